//! Documentation embedded in the binary, so `harnex guide`, `harnex recipes`, `harnex
//! agents-guide` and `harnex skills install` work from an installed binary with no checkout.

/// A named Markdown document.
#[derive(Debug, Clone, Copy)]
pub struct Doc {
    pub name: &'static str,
    pub text: &'static str,
}

impl Doc {
    /// The first `# ` heading, or the name.
    pub fn title(&self) -> &'static str {
        self.text
            .lines()
            .find_map(|l| l.strip_prefix("# "))
            .map(str::trim)
            .unwrap_or(self.name)
    }
}

pub const GUIDE: &str = include_str!("../GUIDE.md");

pub const RECIPES: [Doc; 4] = [
    Doc {
        name: "fire-and-watch",
        text: include_str!("../recipes/fire-and-watch.md"),
    },
    Doc {
        name: "chain",
        text: include_str!("../recipes/chain.md"),
    },
    Doc {
        name: "buddy",
        text: include_str!("../recipes/buddy.md"),
    },
    Doc {
        name: "overnight",
        text: include_str!("../recipes/overnight.md"),
    },
];

pub const AGENT_GUIDES: [Doc; 5] = [
    Doc {
        name: "01_dispatch",
        text: include_str!("../guides/01_dispatch.md"),
    },
    Doc {
        name: "02_chain",
        text: include_str!("../guides/02_chain.md"),
    },
    Doc {
        name: "03_buddy",
        text: include_str!("../guides/03_buddy.md"),
    },
    Doc {
        name: "04_monitoring",
        text: include_str!("../guides/04_monitoring.md"),
    },
    Doc {
        name: "05_naming",
        text: include_str!("../guides/05_naming.md"),
    },
];

pub const SKILLS: [Doc; 3] = [
    Doc {
        name: "harnex-dispatch",
        text: include_str!("../skills/harnex-dispatch/SKILL.md"),
    },
    Doc {
        name: "harnex-chain",
        text: include_str!("../skills/harnex-chain/SKILL.md"),
    },
    Doc {
        name: "harnex-buddy",
        text: include_str!("../skills/harnex-buddy/SKILL.md"),
    },
];

/// Find a document by exact name, then name prefix, then substring (of the name, ignoring a
/// numeric `NN_` prefix). Ambiguous prefixes or substrings name every match.
pub fn find<'a>(docs: &'a [Doc], query: &str) -> Result<&'a Doc, Vec<&'a Doc>> {
    let query = query.trim().to_lowercase();
    // The Ruby harnex numbers its recipes (`01_fire_and_watch`): `01`, `1` and `fire_and_watch`
    // name the same one here, where names are unnumbered and dashed.
    let numbered = docs
        .iter()
        .any(|d| d.name.starts_with(|c: char| c.is_ascii_digit()));
    if !numbered {
        if let Ok(n) = query.parse::<usize>() {
            return n
                .checked_sub(1)
                .and_then(|i| docs.get(i))
                .ok_or_else(Vec::new);
        }
        let unnumbered = match query.split_once('_') {
            Some((n, rest)) if n.chars().all(|c| c.is_ascii_digit()) => rest,
            _ => query.as_str(),
        };
        let query = unnumbered.replace('_', "-");
        if let Some(doc) = docs.iter().find(|d| d.name == query) {
            return Ok(doc);
        }
    }
    let bare = |d: &Doc| {
        d.name
            .split_once('_')
            .filter(|(n, _)| n.chars().all(|c| c.is_ascii_digit()))
            .map_or(d.name, |(_, rest)| rest)
    };
    if let Some(doc) = docs.iter().find(|d| d.name == query || bare(d) == query) {
        return Ok(doc);
    }
    for matches in [
        docs.iter()
            .filter(|d| d.name.starts_with(&query) || bare(d).starts_with(&query))
            .collect::<Vec<_>>(),
        docs.iter().filter(|d| d.name.contains(&query)).collect(),
    ] {
        match matches.as_slice() {
            [one] => return Ok(one),
            [] => continue,
            _ => return Err(matches),
        }
    }
    Err(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_found_by_name_prefix_or_substring() {
        assert_eq!(find(&AGENT_GUIDES, "05_naming").unwrap().name, "05_naming");
        assert_eq!(find(&AGENT_GUIDES, "naming").unwrap().name, "05_naming");
        assert_eq!(find(&AGENT_GUIDES, "01").unwrap().name, "01_dispatch");
        assert_eq!(
            find(&AGENT_GUIDES, "monitor").unwrap().name,
            "04_monitoring"
        );
        assert_eq!(find(&RECIPES, "fire").unwrap().name, "fire-and-watch");
        assert_eq!(find(&RECIPES, "night").unwrap().name, "overnight");
        // As the Ruby harnex's GUIDE names them.
        for ruby in ["01", "1", "fire_and_watch", "01_fire_and_watch"] {
            assert_eq!(
                find(&RECIPES, ruby).unwrap().name,
                "fire-and-watch",
                "{ruby}"
            );
        }
        assert_eq!(find(&RECIPES, "2").unwrap().name, "chain");
        assert!(find(&RECIPES, "9").unwrap_err().is_empty());
        assert!(find(&RECIPES, "zzz").unwrap_err().is_empty());
        assert_eq!(find(&AGENT_GUIDES, "0").unwrap_err().len(), 5);
    }

    #[test]
    fn every_document_has_a_title() {
        for doc in RECIPES.iter().chain(&AGENT_GUIDES).chain(&SKILLS) {
            assert!(!doc.title().is_empty(), "{}", doc.name);
        }
        assert_eq!(
            find(&AGENT_GUIDES, "naming").unwrap().title(),
            "Naming Conventions"
        );
    }

    #[test]
    fn skills_carry_their_name_in_front_matter() {
        for skill in SKILLS {
            assert!(skill.text.starts_with("---\n"), "{}", skill.name);
            assert!(
                skill.text.contains(&format!("name: {}\n", skill.name)),
                "{}",
                skill.name
            );
            assert!(skill.text.contains("\ndescription: "), "{}", skill.name);
        }
    }
}
