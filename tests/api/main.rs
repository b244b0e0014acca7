//! Black-box tests of taskyard: the real application on a real port with its own temporary SQLite database, driven
//! over HTTP only. One module per area of the API contract; `helpers` is the harness.

mod auth;
mod errors;
mod health;
mod helpers;
mod jobs;
mod lease_loss;
mod openapi;
mod orphans;
mod output;
mod params;
mod restart;
mod stream;
mod tasks;
