//! `harnex done`: an agent (or anyone for it) reports that the session's task is finished.

use std::time::Duration;

use super::print_json;
use crate::cli::DoneArgs;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::wire::events::{Done, ExternalEvent};
use crate::wire::outputs::DoneRecorded;

pub fn run(args: DoneArgs) -> Result<i32> {
    // --id and --repo default to $HARNEX_ID and $HARNEX_SESSION_REPO_ROOT (clap reads them).
    // An empty variable counts as unset.
    let id = args.id.clone().filter(|id| !id.is_empty()).ok_or_else(|| {
        Error::usage("harnex done: pass --id ID (inside a harnex session $HARNEX_ID names it)")
    })?;
    let target = crate::cli::SessionFilter {
        repo: args
            .repo
            .clone()
            .filter(|repo| !repo.as_os_str().is_empty()),
        cli: None,
    };
    let (_, entry) = super::find_live(&id, &target)?;
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
