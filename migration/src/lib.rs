//! Schema migrations, run at start-up by `taskyard serve`. One migration per schema change; a landed migration is
//! never edited.
pub use sea_orm_migration::prelude::*;

mod m20261123_000001_initial;
mod m20261123_000002_attempts;
mod m20261123_000003_nodes;
mod m20261123_000004_cancel_requests;
mod m20261201_000005_param_rules;
mod m20261201_000006_sandbox;
mod m20261201_000007_node_clock_offsets;
mod m20261204_000008_job_output;
mod m20261205_000009_schedules;
mod m20261205_000009a_overdue_fires;
mod m20261205_000010_notifications;
mod m20261205_000011_functions;
mod m20261205_000012_job_artifacts;
mod m20261205_000013_audit_and_trace;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_initial::Migration),
            Box::new(m20261123_000002_attempts::Migration),
            Box::new(m20261123_000003_nodes::Migration),
            Box::new(m20261123_000004_cancel_requests::Migration),
            Box::new(m20261201_000005_param_rules::Migration),
            Box::new(m20261201_000006_sandbox::Migration),
            Box::new(m20261201_000007_node_clock_offsets::Migration),
            Box::new(m20261204_000008_job_output::Migration),
            Box::new(m20261205_000009_schedules::Migration),
            Box::new(m20261205_000009a_overdue_fires::Migration),
            Box::new(m20261205_000010_notifications::Migration),
            Box::new(m20261205_000011_functions::Migration),
            Box::new(m20261205_000012_job_artifacts::Migration),
            Box::new(m20261205_000013_audit_and_trace::Migration),
        ]
    }
}
