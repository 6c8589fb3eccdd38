//! `harnex status --tree`: the live sessions as the tree of who started whom (each session's
//! `parent_session_id` names its parent's run), drawn like `tree(1)` or nested as JSON.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

/// One row's place in the drawn tree.
pub struct Node {
    /// The row's index among the rows given.
    pub index: usize,
    /// For each ancestor below the top: whether it was the last of its siblings (draws `│`).
    pub rails: Vec<bool>,
    /// Whether this node is the last of its siblings (`└──` rather than `├──`).
    pub last: bool,
    pub depth: usize,
}

/// For each row, the index of its parent row among `rows` (None: shown at the top).
fn parents(rows: &[Value]) -> Vec<Option<usize>> {
    let by_run: HashMap<&str, usize> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, row)| row["session_id"].as_str().map(|run| (run, i)))
        .collect();
    let by_id = |id: &str| {
        let mut matching = rows
            .iter()
            .enumerate()
            .filter(|(_, row)| row["id"].as_str() == Some(id));
        match (matching.next(), matching.next()) {
            (Some((i, _)), None) => Some(i),
            _ => None,
        }
    };
    rows.iter()
        .enumerate()
        .map(|(i, row)| {
            let parent = match row["parent_session_id"].as_str() {
                Some(run) => by_run.get(run).copied(),
                // A parent that did not pass its run: by id, when exactly one row has it.
                None => row["parent"].as_str().and_then(by_id),
            };
            parent.filter(|p| *p != i)
        })
        .collect()
}

/// The order rows are listed in: oldest first, then by id.
fn sort_key(row: &Value) -> (String, String) {
    let text = |key: &str| row[key].as_str().unwrap_or_default().to_string();
    (text("started_at"), text("id"))
}

/// Children of each row, and the rows at the top (those whose parent is not shown). A row on a
/// cycle of parent links (only a damaged entry makes one) goes to the top too, once.
fn forest(rows: &[Value]) -> (Vec<Vec<usize>>, Vec<usize>) {
    let parents = parents(rows);
    let mut children = vec![Vec::new(); rows.len()];
    let mut tops = Vec::new();
    for (i, parent) in parents.iter().enumerate() {
        match parent {
            Some(p) => children[*p].push(i),
            None => tops.push(i),
        }
    }
    let by_age = |list: &mut Vec<usize>| list.sort_by_key(|i| sort_key(&rows[*i]));
    children.iter_mut().for_each(by_age);
    by_age(&mut tops);
    // Rows not reachable from a top sit on a cycle: show each such cycle from its oldest row.
    let mut reached = HashSet::new();
    let mut stack = tops.clone();
    while let Some(i) = stack.pop() {
        if reached.insert(i) {
            stack.extend(&children[i]);
        }
    }
    let mut cycle: Vec<usize> = (0..rows.len()).filter(|i| !reached.contains(i)).collect();
    by_age(&mut cycle);
    for i in cycle {
        if reached.contains(&i) {
            continue;
        }
        // Break the cycle here: `i` becomes a top, so its parent no longer lists it.
        for list in children.iter_mut() {
            list.retain(|c| *c != i);
        }
        tops.push(i);
        let mut stack = vec![i];
        while let Some(j) = stack.pop() {
            if reached.insert(j) {
                stack.extend(&children[j]);
            }
        }
    }
    by_age(&mut tops);
    (children, tops)
}

/// The rows in tree order, each with what its line needs to be drawn (`harnex top` draws the
/// same tree).
pub fn walk(rows: &[Value]) -> Vec<Node> {
    let (children, tops) = forest(rows);
    let mut out = Vec::new();
    let mut stack: Vec<Node> = tops
        .iter()
        .rev()
        .map(|&index| Node {
            index,
            rails: Vec::new(),
            last: true,
            depth: 0,
        })
        .collect();
    while let Some(node) = stack.pop() {
        let kids = &children[node.index];
        let mut rails = node.rails.clone();
        if node.depth > 0 {
            rails.push(node.last);
        }
        for (n, &index) in kids.iter().enumerate().rev() {
            stack.push(Node {
                index,
                rails: rails.clone(),
                last: n + 1 == kids.len(),
                depth: node.depth + 1,
            });
        }
        out.push(node);
    }
    out
}

/// Text with control characters shown as `?` (a row's fields end up on a terminal).
fn plain(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// One line's text: `id  cli  state  k=v k=v`, and the parent when it is not shown above.
fn label(row: &Value, parent_shown: bool) -> String {
    let text = |key: &str| match &row[key] {
        Value::String(s) => plain(s),
        Value::Null => "-".into(),
        other => plain(&other.to_string()),
    };
    let mut parts = vec![text("id"), text("cli"), text("agent_state")];
    if let Some(tags) = row["tags"].as_object()
        && !tags.is_empty()
    {
        let pairs: Vec<String> = tags
            .iter()
            .map(|(k, v)| plain(&format!("{k}={}", v.as_str().unwrap_or_default())))
            .collect();
        parts.push(pairs.join(" "));
    }
    if !parent_shown && let Some(parent) = row["parent"].as_str() {
        parts.push(format!("(started by {}, not shown)", plain(parent)));
    }
    parts.join("  ")
}

/// The tree as text, one session per line.
pub fn render(rows: &[Value]) -> String {
    let mut out = String::new();
    for node in walk(rows) {
        for &last in &node.rails {
            out.push_str(if last { "    " } else { "│   " });
        }
        if node.depth > 0 {
            out.push_str(if node.last {
                "└── "
            } else {
                "├── "
            });
        }
        out.push_str(&label(&rows[node.index], node.depth > 0));
        out.push('\n');
    }
    out
}

/// The tree as JSON: the sessions at the top, each status object with a `children` array of
/// the sessions it started (nested the same way).
pub fn nest(rows: Vec<Value>) -> Vec<Value> {
    let (children, tops) = forest(&rows);
    let mut slots: Vec<Option<Value>> = rows.into_iter().map(Some).collect();
    fn build(i: usize, children: &[Vec<usize>], slots: &mut [Option<Value>]) -> Value {
        let kids: Vec<Value> = children[i]
            .iter()
            .map(|&c| build(c, children, slots))
            .collect();
        let mut row = slots[i].take().unwrap_or(Value::Null);
        if let Some(map) = row.as_object_mut() {
            map.insert("children".into(), Value::Array(kids));
        }
        row
    }
    tops.iter()
        .map(|&i| build(i, &children, &mut slots))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(id: &str, run: &str, parent: Option<(&str, &str)>, started: &str) -> Value {
        json!({"id": id, "session_id": run, "cli": "bash", "agent_state": "prompt",
            "started_at": started,
            "parent": parent.map(|p| p.0), "parent_session_id": parent.map(|p| p.1),
            "tags": {}})
    }

    #[test]
    fn children_are_drawn_under_their_parent_oldest_first() {
        let mut leaf = row("leaf", "r4", Some(("mid", "r2")), "4");
        leaf["tags"] = json!({"step": "2", "team": "infra"});
        let rows = vec![
            leaf,
            row("mid", "r2", Some(("top", "r1")), "2"),
            row("top", "r1", None, "1"),
            row("sib", "r3", Some(("top", "r1")), "3"),
            row("lone", "r5", Some(("gone", "r9")), "5"),
        ];
        assert_eq!(
            render(&rows),
            "top  bash  prompt\n\
             ├── mid  bash  prompt\n\
             │   └── leaf  bash  prompt  step=2 team=infra\n\
             └── sib  bash  prompt\n\
             lone  bash  prompt  (started by gone, not shown)\n"
        );
        let nested = nest(rows);
        assert_eq!(nested.len(), 2);
        assert_eq!(nested[0]["id"], "top");
        assert_eq!(nested[0]["children"][0]["id"], "mid");
        assert_eq!(nested[0]["children"][0]["children"][0]["id"], "leaf");
        assert_eq!(nested[0]["children"][1]["children"], json!([]));
        assert_eq!(nested[1]["id"], "lone");
    }

    #[test]
    fn a_cycle_of_parent_links_shows_every_row_once() {
        let rows = vec![
            row("a", "ra", Some(("b", "rb")), "1"),
            row("b", "rb", Some(("a", "ra")), "2"),
            row("self", "rs", Some(("self", "rs")), "3"),
        ];
        let text = render(&rows);
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.starts_with("a  bash  prompt"), "{text}");
        assert!(text.contains("└── b  bash"), "{text}");
        let nested = nest(rows);
        assert_eq!(nested.len(), 2);
    }

    #[test]
    fn a_parent_without_its_run_is_found_by_a_unique_id() {
        let mut child = row("c", "rc", None, "2");
        child["parent"] = json!("p");
        let rows = vec![row("p", "rp", None, "1"), child];
        assert_eq!(render(&rows), "p  bash  prompt\n└── c  bash  prompt\n");
    }

    #[test]
    fn control_characters_do_not_reach_the_terminal() {
        let mut r = row("x", "rx", None, "1");
        r["tags"] = json!({"k": "a\u{1b}[2Jb"});
        assert_eq!(render(&[r]), "x  bash  prompt  k=a?[2Jb\n");
    }
}
