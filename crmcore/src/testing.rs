//! The contract suite every store adapter runs (feature `testing`).
