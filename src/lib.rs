//! MyChat: the backend of an online counselling platform, as a library so tests can start it in-process.

pub mod app;
pub mod bus;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod infra;
pub mod modules;
pub mod money;
pub mod openapi;
pub mod response;
pub mod servers;
pub mod state;
pub mod supervisor;
pub mod telemetry;

pub use app::{Application, RunningApp};
pub use config::Settings;
