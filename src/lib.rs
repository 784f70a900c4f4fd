//! ringloop
