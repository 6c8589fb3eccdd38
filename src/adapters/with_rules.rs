//! An adapter reading with rules other than its built-in ones (the user's override merged in):
//! the rules answer what they say (screen, keys, delays), the agent's own module the rest.

use std::path::{Path, PathBuf};

use super::{Adapter, ExitSummary, RuleSet};
use crate::record_files::RecordsPlan;

pub struct WithRules {
    agent: Box<dyn Adapter>,
    rules: RuleSet,
}

impl WithRules {
    pub fn new(agent: Box<dyn Adapter>, rules: RuleSet) -> WithRules {
        WithRules { agent, rules }
    }
}

impl Adapter for WithRules {
    fn name(&self) -> &'static str {
        self.agent.name()
    }

    fn rules(&self) -> &RuleSet {
        &self.rules
    }

    fn command(&self, cli: &str, args: &[String]) -> Vec<String> {
        self.agent.command(cli, args)
    }

    fn probed_args(&self, program: &str, args: &[String]) -> Vec<String> {
        self.agent.probed_args(program, args)
    }

    fn records_plan(
        &self,
        argv: &mut Vec<String>,
        env: &dyn Fn(&str) -> Option<String>,
        cwd: &Path,
    ) -> RecordsPlan {
        self.agent.records_plan(argv, env, cwd)
    }

    fn repo_dir(&self, args: &[String]) -> Option<PathBuf> {
        self.agent.repo_dir(args)
    }

    fn agent_env(&self) -> &'static [(&'static str, &'static str)] {
        self.agent.agent_env()
    }

    fn exit_tokens(&self, plain_tail: &str) -> ExitSummary {
        self.agent.exit_tokens(plain_tail)
    }

    fn usage_from_records(&self, parsed: ExitSummary, cwd: &Path) -> ExitSummary {
        self.agent.usage_from_records(parsed, cwd)
    }
}
