//! A pull request's plan, as one library call: HEAD planned under BASE's
//! policy and signers (so a PR cannot loosen its own rules), what BASE itself
//! would do to the database (the changes outside the PR), what the PR's policy
//! change would decide differently after merge, and which pins the PR moves.
//! Reading BASE and HEAD (git) and the database is the caller's (the CLI's);
//! rendering the comment is `render::markdown`'s.

use std::collections::{BTreeMap, BTreeSet};

use super::render::markdown::PolicyChange;
use super::Plan;
use crate::approvals::Pins;
use crate::desired::DesiredState;
use crate::policy::Policy;
use crate::state::ActualState;

/// BASE as the caller read it.
pub struct Base {
    /// How to name it (`git:<sha> (main)`).
    pub label: String,
    /// Its policy: it governs the PR's plan.
    pub policy: Policy,
    /// Its pins, to tell which the PR moves.
    pub pins: Pins,
    /// Its `allowed_signers`, which decide signed pins in the PR.
    pub signers: Option<crate::signing::AllowedSigners>,
    /// Its desired state, when its manifests are valid.
    pub desired: Option<DesiredState>,
}

/// What a pull request adds to its plan's data (the JSON plan carries it; the
/// comment shows it).
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Facts {
    /// BASE as named in the comment.
    pub base: String,
    /// What applying would also do that BASE alone does (drift, other merges),
    /// one line per change (`update tool github/list_issues`).
    pub outside: Vec<String>,
    /// The PR's policy change and what it would decide differently.
    pub policy_change: Option<PolicyChange>,
    /// Pins the PR adds, removes or changes.
    pub pins_in_range: Vec<String>,
}

/// Everything a PR comment shows, computed.
pub struct Review {
    /// HEAD's plan under BASE's policy.
    pub plan: Plan,
    /// What BASE alone would do to the database (drift, other merges).
    pub outside: Option<Plan>,
    /// The PR's change of the policy, and what it would decide differently.
    pub policy_change: Option<PolicyChange>,
    /// Pins the PR adds, removes or changes.
    pub pins_in_range: BTreeSet<String>,
}

/// Plans HEAD (`head`, already carrying HEAD's policy) against `actual` as a
/// pull request onto `base`. `notes` are added to the plan's notes.
pub fn review(
    mut head: DesiredState,
    base: &Base,
    actual: &ActualState,
    mut notes: Vec<String>,
) -> Result<Review, super::diff::Error> {
    let head_policy = head.policy.clone();
    head.signers = base.signers.clone();
    head.set_policy(base.policy.clone());
    let mut plan = super::diff::diff(&head, actual)?;
    // Best effort: a BASE that cannot be planned is a note, not a failed comment.
    let outside = match &base.desired {
        Some(b) => match super::diff::diff(b, actual) {
            Ok(p) => Some(p),
            Err(e) => {
                notes.push(format!("changes outside this PR could not be computed: BASE does not plan against the database ({e})"));
                None
            }
        },
        None => None,
    };
    plan.notes.extend(notes);
    let policy_change = if base.policy != head_policy {
        Some(policy_change(
            &base.policy,
            head_policy,
            &head,
            actual,
            &plan,
        )?)
    } else {
        None
    };
    let pins_in_range: BTreeSet<String> = head
        .all_pins
        .keys()
        .chain(base.pins.keys())
        .filter(|k| {
            head.all_pins.get(*k).map(|p| p.identity()) != base.pins.get(*k).map(|p| p.identity())
        })
        .cloned()
        .collect();
    plan.pull_request = Some(Facts {
        base: base.label.clone(),
        outside: outside
            .iter()
            .flat_map(|p| &p.changes)
            .map(|c| format!("{} {} {}", c.action.symbol(), c.kind.as_str(), c.key))
            .collect(),
        policy_change: policy_change.clone(),
        pins_in_range: pins_in_range.iter().cloned().collect(),
    });
    Ok(Review {
        plan,
        outside,
        policy_change,
        pins_in_range,
    })
}

/// What the PR's policy change means: the diff of the two policies, and the
/// tools whose approval outcome would differ under HEAD's policy.
fn policy_change(
    base: &Policy,
    head: Policy,
    desired: &DesiredState,
    actual: &ActualState,
    plan: &Plan,
) -> Result<PolicyChange, super::diff::Error> {
    let text = |p: &Policy| serde_yaml::to_string(p).unwrap_or_default();
    let (before, after) = (text(base), text(&head));
    let diff = similar::TextDiff::from_lines(&before, &after)
        .unified_diff()
        .context_radius(10)
        .header("BASE mcpbox-gitops.yaml", "HEAD mcpbox-gitops.yaml")
        .to_string();
    let mut under_head = desired.clone();
    under_head.set_policy(head);
    let merged = super::diff::diff(&under_head, actual)?;
    let outcome = |p: &Plan| -> BTreeMap<String, String> {
        p.changes
            .iter()
            .filter_map(|c| {
                c.tool
                    .as_ref()
                    .map(|t| (c.key.clone(), t.approval.reason.clone()))
            })
            .collect()
    };
    let (now, then) = (outcome(plan), outcome(&merged));
    let mut after_merge: Vec<String> = then
        .iter()
        .filter(|(k, v)| now.get(*k) != Some(*v))
        .map(|(k, v)| format!("tool {k}: {v}"))
        .collect();
    if merged.summary != plan.summary {
        after_merge.push(format!(
            "the plan would be {} instead of {}",
            merged.summary.tally(),
            plan.summary.tally()
        ));
    }
    Ok(PolicyChange { diff, after_merge })
}
