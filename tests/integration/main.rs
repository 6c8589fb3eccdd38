//! Integration tests: the built harnex binary against bash and the scripted fake agent, each test
//! in its own temp state dir and repo.

mod support;

mod adapter_rules;
mod api;
mod api_hardening;
mod attribution;
mod bad_input;
mod commands;
mod conversation;
mod crash;
mod disk_full;
mod docs_commands;
mod event_schema;
mod events;
mod files;
mod generic_dialogs;
mod guide;
mod input;
mod lifecycle;
mod live_status;
mod records;
mod remote;
mod rendered_logs;
mod retention;
mod ruby_compat;
mod run;
mod schema;
mod send;
mod start;
mod stop;
mod tmux;
mod top;
mod wait_exit;
mod watch;
