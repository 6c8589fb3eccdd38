//! `harnex done`: an agent (or anyone for it) reports that the session's task is finished.

use std::time::Duration;

use super::print_json;
use crate::cli::DoneArgs;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::wire::events::{Done, ExternalEvent};
use crate::wire::outputs::DoneRecorded;

pub fn run(args: DoneArgs) -> Result<i32> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let id = args
        .id
        .clone()
        .or_else(|| env("HARNEX_ID"))
        .ok_or_else(|| {
            Error::usage("harnex done: pass --id ID (inside a harnex session $HARNEX_ID names it)")
        })?;
    let repo = args
        .repo
        .clone()
        .or_else(|| env("HARNEX_SESSION_REPO_ROOT").map(Into::into));
    let target = crate::cli::SessionFilter { repo, cli: None };
    let (_, entry) = super::find_live(&Some(id), &target)?;
    let answer = Client::for_entry(&entry)
        .post(
            "/events",
            &ExternalEvent::Done(Done {
                message: args.message.clone(),
            }),
            Duration::from_secs(5),
        )
        .map_err(|e| Error::failed(format!("cannot tell {} it is done: {e}", entry.id)))?;
    print_json(&crate::wire::to_value(&DoneRecorded {
        ok: answer["ok"].clone(),
        id: entry.id.clone(),
        event: "done".into(),
    }));
    Ok(0)
}
