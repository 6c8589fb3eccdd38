//! The routes that read the session: `GET /status` `/health` `/screen` `/explain` `/inbox`, and
//! the inbox's `DELETE` routes.

use std::sync::Arc;

use super::Reply;
use crate::session::Session;
use crate::session::monitor::{self, Inspection};
use crate::session::status;
use crate::wire::replies::{
    Cleared, Cursor, Dropped, ExplainReply, InboxReply, MessageView, ScreenReply,
};
use crate::wire::status::Size;

pub fn get_status(session: &Session) -> Reply {
    let live = session.shared.lock();
    Reply::ok(&status::status(session, &live))
}

fn cursor((row, col): (u16, u16)) -> Cursor {
    Cursor { row, col }
}

pub fn get_screen(session: &Session) -> Reply {
    let Some(Inspection { view, .. }) = monitor::inspect(session) else {
        return Reply::error(503, "screen unavailable (session is shutting down)");
    };
    Reply::ok(&ScreenReply {
        ok: true,
        id: session.config.id.clone(),
        text: view.text(),
        cursor: cursor(view.cursor),
        size: Size {
            rows: view.size.0,
            cols: view.size.1,
        },
        rows: view.rows,
        title: view.title,
        captured_at: crate::time::now_rfc3339(),
    })
}

pub fn get_explain(session: &Session) -> Reply {
    let Some(Inspection { view, verdict }) = monitor::inspect(session) else {
        return Reply::error(503, "screen unavailable (session is shutting down)");
    };
    let rules = session.adapter.rules();
    let matched = rules.rule(&verdict.rule);
    let live = session.shared.lock();
    Reply::ok(&ExplainReply {
        ok: true,
        id: session.config.id.clone(),
        adapter: session.adapter.name().to_string(),
        state: live.visible_state().as_str().to_string(),
        state_since: crate::time::rfc3339(live.state_since),
        verdict: serde_json::to_value(&verdict).unwrap_or_default(),
        dialog: live.dialog.clone(),
        rules_file: rules.source().to_string(),
        rule_file: matched.map(|r| r.origin.to_string()),
        rule_line: matched.map(|r| r.line as u64),
        quiet_window_ms: session.adapter.quiet_window().as_millis() as u64,
        output_means_busy: session.adapter.output_means_busy(),
        turn: status::turn_counters(&live),
        title: view.title,
        cursor: cursor(view.cursor),
        rows: view.rows,
    })
}

pub fn get_inbox(session: &Session) -> Reply {
    let live = session.shared.lock();
    let messages: Vec<MessageView> = live.inbox.pending().map(|m| m.view()).collect();
    Reply::ok(&InboxReply {
        ok: true,
        messages,
        stats: live.inbox.stats(),
    })
}

pub fn clear_inbox(session: &Arc<Session>) -> Reply {
    let cleared = session.shared.update(|live| live.inbox.clear());
    Reply::ok(&Cleared { ok: true, cleared })
}

pub fn drop_message(session: &Arc<Session>, id: &str) -> Reply {
    match session.shared.update(|live| live.inbox.drop_message(id)) {
        Some(message) => Reply::ok(&Dropped {
            ok: true,
            message: message.view(),
        }),
        None => Reply::error(404, "message not found"),
    }
}
