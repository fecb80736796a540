//! Full pipeline analytics over 100,000 deals (placeholder, filled in below).

fn main() {}
