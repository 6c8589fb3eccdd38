//! `harnex guide`, `harnex recipes [show NAME]`, `harnex agents-guide [list|show TOPIC|TOPIC]`:
//! print the documentation embedded in the binary.

use crate::docs::{self, Doc};
use crate::error::{Error, Result};

pub fn guide() -> Result<i32> {
    print!("{}", docs::GUIDE);
    Ok(0)
}

/// `harnex recipes` lists; `harnex recipes show NAME` (or `harnex recipes NAME`) prints one.
pub fn recipes(words: &[String]) -> Result<i32> {
    match words {
        [] => print_recipes(),
        [list] if list == "list" => print_recipes(),
        [show, name] if show == "show" => {
            print_one(&docs::RECIPES, name, "recipe", "harnex recipes")
        }
        [name] => print_one(&docs::RECIPES, name, "recipe", "harnex recipes"),
        _ => Err(Error::usage("usage: harnex recipes [show NAME]")),
    }
}

fn print_recipes() -> Result<i32> {
    println!("Recipes (tested workflow patterns):");
    list(&docs::RECIPES);
    println!("\nShow one: harnex recipes show <name or number>");
    Ok(0)
}

/// `harnex agents-guide` / `list` lists the topics; `show TOPIC` or `TOPIC` prints one.
pub fn agents_guide(words: &[String]) -> Result<i32> {
    match words {
        [] => {
            print_list_of_guides();
            Ok(0)
        }
        [list] if list == "list" => {
            print_list_of_guides();
            Ok(0)
        }
        [show, topic] if show == "show" => {
            print_one(&docs::AGENT_GUIDES, topic, "topic", "harnex agents-guide")
        }
        [topic] => print_one(&docs::AGENT_GUIDES, topic, "topic", "harnex agents-guide"),
        _ => Err(Error::usage(
            "usage: harnex agents-guide [list | show TOPIC | TOPIC]",
        )),
    }
}

fn print_list_of_guides() {
    println!("Agent guides:");
    list(&docs::AGENT_GUIDES);
    println!("\nRead one: harnex agents-guide show <topic>   (e.g. harnex agents-guide dispatch)");
}

fn list(items: &[Doc]) {
    let width = items.iter().map(|d| d.name.len()).max().unwrap_or(0);
    for doc in items {
        println!("  {:<width$}  {}", doc.name, doc.title());
    }
}

fn print_one(items: &[Doc], query: &str, what: &str, command: &str) -> Result<i32> {
    match docs::find(items, query) {
        Ok(doc) => {
            print!("{}", doc.text);
            Ok(0)
        }
        Err(matches) if matches.is_empty() => {
            let names: Vec<&str> = items.iter().map(|d| d.name).collect();
            Err(Error::failed(format!(
                "no {what} matching {query:?}; available: {} (see `{command}`)",
                names.join(", ")
            )))
        }
        Err(matches) => {
            let names: Vec<&str> = matches.iter().map(|d| d.name).collect();
            Err(Error::failed(format!(
                "{query:?} matches several {what}s: {}; be more specific",
                names.join(", ")
            )))
        }
    }
}
