//! Integration tests: a real `TestServer` on loopback, driven with reqwest.

mod binary;
mod discovery;
mod faults;
mod get_requests;
mod jurisdictions;
mod lifecycle;
mod post;
mod quirks;
mod services;
mod support;
mod tokens;
