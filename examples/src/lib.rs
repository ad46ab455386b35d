//! Runnable examples live in `examples/examples/`; run one with
//! `cargo run -p vipd-examples --example NAME`.
