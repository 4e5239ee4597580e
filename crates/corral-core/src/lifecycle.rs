//! The CT lifecycle: states derived from what the cluster shows, and a pure
//! `step` that turns a user action into a decision for the adapters.
//!
//! ```text
//!  (none) ──Create──▶ Provisioning ──▶ [Seeding] ──▶ Starting ──▶ Running
//!                                                                 │  ▲
//!                                                            Stop │  │ Start
//!                                                                 ▼  │
//!                                                     Stopping ──▶ Stopped
//!  any existing state ──Delete──▶ Deleting ──▶ (none)
//! ```
//!
//! `observe` reads facts (record, volume phase, pod phase and container
//! states, deletion timestamps) and names the state; `step` decides. Neither
//! does IO. The full state × action table is in `docs/lifecycle.md`,
//! generated from [`transition_table_markdown`] and checked by a test.

use serde::{Deserialize, Serialize};

/// The states a CT can be observed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum State {
    /// No record: the CT does not exist.
    Absent,
    /// The record exists but a create stopped half-way (its other parts may be
    /// missing). `create` of the same spec finishes it; `delete` removes it.
    Incomplete,
    /// The pod exists but its volume is not bound yet.
    Provisioning,
    /// Privileged first boot: the volume is being seeded from the image.
    Seeding,
    /// The pod is scheduled or its containers are starting.
    Starting,
    /// The main container is running and ready.
    Running,
    /// The pod is being deleted (a stop is under way).
    Stopping,
    /// No pod; the record, volume and Service are kept.
    Stopped,
    /// The pod cannot run (image pull failure, crash loop, exited, volume lost).
    Failed,
    /// The record is being deleted.
    Deleting,
}

impl State {
    /// Every state, in table order.
    pub const ALL: [State; 10] = [
        State::Absent,
        State::Incomplete,
        State::Provisioning,
        State::Seeding,
        State::Starting,
        State::Running,
        State::Stopping,
        State::Stopped,
        State::Failed,
        State::Deleting,
    ];

    /// The word shown in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Absent => "Absent",
            State::Incomplete => "Incomplete",
            State::Provisioning => "Provisioning",
            State::Seeding => "Seeding",
            State::Starting => "Starting",
            State::Running => "Running",
            State::Stopping => "Stopping",
            State::Stopped => "Stopped",
            State::Failed => "Failed",
            State::Deleting => "Deleting",
        }
    }

    /// True when a pod exists and is not being deleted.
    pub fn has_live_pod(self) -> bool {
        matches!(
            self,
            State::Provisioning | State::Seeding | State::Starting | State::Running | State::Failed
        )
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a user asks of a CT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// Make the CT (record, volume, Service, pod).
    Create,
    /// Make the pod again from the record.
    Start,
    /// Delete the pod gracefully; keep record, volume and Service.
    Stop,
    /// Remove everything, the volume included.
    Delete,
    /// Open a console or run a command in the CT.
    Exec,
}

impl Action {
    /// Every action, in table order.
    pub const ALL: [Action; 5] = [
        Action::Create,
        Action::Start,
        Action::Stop,
        Action::Delete,
        Action::Exec,
    ];

    /// The verb as the CLI spells it.
    pub fn verb(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Delete => "delete",
            Action::Exec => "exec into",
        }
    }
}

/// What the cluster must do; carried out by the adapters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Decision {
    /// Write the record (volume), then the Service, then the pod.
    CreateAll,
    /// Make whichever of Service and pod is missing, then mark the record complete.
    FinishCreate,
    /// Make the pod from the record.
    CreatePod,
    /// Delete the failed pod, then make it again from the record.
    RecreatePod,
    /// Delete the pod gracefully.
    DeletePod,
    /// Delete pod, Service and record (and with it the volume).
    DeleteAll,
    /// Run a session in the main container.
    Exec,
}

/// Why an action is not allowed in a state. Messages complete the sentence
/// "cannot ACTION CT: …".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// Create of a name that is taken.
    #[error("it already exists (state {0}); pick another name or delete it first")]
    AlreadyExists(State),
    /// Any action but create on a CT that does not exist.
    #[error("it does not exist; `corral ct list` shows the CTs in this namespace")]
    NotFound,
    /// Start of a CT whose pod already exists.
    #[error("it is already {0}")]
    AlreadyRunning(State),
    /// Stop of a CT with no pod.
    #[error("it is already stopped")]
    AlreadyStopped,
    /// Stop of a CT whose pod is already going.
    #[error("it is already stopping; `corral ct start` once it has stopped")]
    AlreadyStopping,
    /// Any action but delete while the CT is being deleted.
    #[error("it is being deleted")]
    BeingDeleted,
    /// An action that needs a finished create on a half-made CT.
    #[error(
        "its create did not finish; run the same `corral ct create` again to finish it, or `corral ct delete` it"
    )]
    Incomplete,
    /// Console or exec on a CT that is not running.
    #[error("it is not running (state {0}); start it with `corral ct start`")]
    NotRunning(State),
}

/// The outcome of [`step`]: the decision and the state the CT should reach.
pub type Outcome = Result<(Decision, State), LifecycleError>;

/// The lifecycle transition function. Pure: no IO, no clock.
pub fn step(state: State, action: Action) -> Outcome {
    use Action as A;
    use Decision as D;
    use LifecycleError as E;
    use State as S;
    match (state, action) {
        (S::Absent, A::Create) => Ok((D::CreateAll, S::Provisioning)),
        (S::Absent, _) => Err(E::NotFound),

        (S::Deleting, A::Delete) => Ok((D::DeleteAll, S::Deleting)),
        (S::Deleting, _) => Err(E::BeingDeleted),
        (_, A::Delete) => Ok((D::DeleteAll, S::Deleting)),

        (S::Incomplete, A::Create) => Ok((D::FinishCreate, S::Provisioning)),
        (S::Incomplete, _) => Err(E::Incomplete),
        (s, A::Create) => Err(E::AlreadyExists(s)),

        (S::Stopped, A::Start) => Ok((D::CreatePod, S::Starting)),
        (S::Failed, A::Start) => Ok((D::RecreatePod, S::Starting)),
        (S::Stopping, A::Start) => Err(E::AlreadyStopping),
        (s, A::Start) => Err(E::AlreadyRunning(s)),

        (S::Stopped, A::Stop) => Err(E::AlreadyStopped),
        (S::Stopping, A::Stop) => Err(E::AlreadyStopping),
        (_, A::Stop) => Ok((D::DeletePod, S::Stopping)),

        (S::Running, A::Exec) => Ok((D::Exec, S::Running)),
        (s, A::Exec) => Err(E::NotRunning(s)),
    }
}

/// What the volume (PVC) reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum VolumePhase {
    /// Not bound yet.
    #[default]
    Pending,
    /// Bound to a volume.
    Bound,
    /// Its volume is gone.
    Lost,
}

/// What the pod reports.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PodFacts {
    /// Pod phase: Pending, Running, Succeeded, Failed, Unknown.
    pub phase: String,
    /// The pod has a deletion timestamp.
    pub deleting: bool,
    /// The seed init container is running (privileged first boot).
    pub seeding: bool,
    /// The main container is ready.
    pub ready: bool,
    /// Why a container is waiting or terminated, when that is an error.
    pub problem: Option<String>,
}

/// Everything `observe` needs, read from the cluster by an adapter.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Facts {
    /// The record exists.
    pub record: bool,
    /// The record says its create finished.
    pub record_complete: bool,
    /// The record has a deletion timestamp.
    pub record_deleting: bool,
    /// The volume's phase.
    pub volume: VolumePhase,
    /// The pod, when one exists.
    pub pod: Option<PodFacts>,
}

/// Container waiting/terminated reasons that mean "this will not start by itself".
pub const FAILURE_REASONS: [&str; 8] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "Error",
];

/// Names the state the facts show, with a reason when one explains it.
pub fn observe(f: &Facts) -> (State, Option<String>) {
    if !f.record {
        return (State::Absent, None);
    }
    if f.record_deleting {
        return (State::Deleting, None);
    }
    if !f.record_complete {
        return (State::Incomplete, None);
    }
    if f.volume == VolumePhase::Lost {
        return (State::Failed, Some("the volume is lost".into()));
    }
    let Some(pod) = &f.pod else {
        return (State::Stopped, None);
    };
    if pod.deleting {
        return (State::Stopping, None);
    }
    if matches!(pod.phase.as_str(), "Failed" | "Succeeded") {
        let why = pod
            .problem
            .clone()
            .unwrap_or_else(|| format!("the pod {}", pod.phase.to_lowercase()));
        return (State::Failed, Some(why));
    }
    if let Some(p) = &pod.problem
        && FAILURE_REASONS.iter().any(|r| p.starts_with(r))
    {
        return (State::Failed, Some(p.clone()));
    }
    if pod.seeding {
        return (State::Seeding, None);
    }
    if pod.phase == "Running" && pod.ready {
        return (State::Running, None);
    }
    if f.volume == VolumePhase::Pending {
        return (State::Provisioning, pod.problem.clone());
    }
    (State::Starting, pod.problem.clone())
}

/// The whole state × action table as Markdown (kept in `docs/lifecycle.md`).
pub fn transition_table_markdown() -> String {
    let mut out = String::from("| state \\ action |");
    for a in Action::ALL {
        out.push_str(&format!(" {} |", a.verb()));
    }
    out.push_str("\n|---|");
    for _ in Action::ALL {
        out.push_str("---|");
    }
    out.push('\n');
    for s in State::ALL {
        out.push_str(&format!("| **{s}** |"));
        for a in Action::ALL {
            let cell = match step(s, a) {
                Ok((d, next)) => format!(" {d:?} → {next} |"),
                Err(e) => format!(" ✗ {e} |"),
            };
            out.push_str(&cell);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_state_action_pair_is_defined() {
        use Action as A;
        use Decision as D;
        use State as S;
        // (state, action, Some(decision) or None for a refusal)
        let table: &[(State, Action, Option<Decision>)] = &[
            (S::Absent, A::Create, Some(D::CreateAll)),
            (S::Absent, A::Start, None),
            (S::Absent, A::Stop, None),
            (S::Absent, A::Delete, None),
            (S::Absent, A::Exec, None),
            (S::Incomplete, A::Create, Some(D::FinishCreate)),
            (S::Incomplete, A::Start, None),
            (S::Incomplete, A::Stop, None),
            (S::Incomplete, A::Delete, Some(D::DeleteAll)),
            (S::Incomplete, A::Exec, None),
            (S::Provisioning, A::Create, None),
            (S::Provisioning, A::Start, None),
            (S::Provisioning, A::Stop, Some(D::DeletePod)),
            (S::Provisioning, A::Delete, Some(D::DeleteAll)),
            (S::Provisioning, A::Exec, None),
            (S::Seeding, A::Create, None),
            (S::Seeding, A::Start, None),
            (S::Seeding, A::Stop, Some(D::DeletePod)),
            (S::Seeding, A::Delete, Some(D::DeleteAll)),
            (S::Seeding, A::Exec, None),
            (S::Starting, A::Create, None),
            (S::Starting, A::Start, None),
            (S::Starting, A::Stop, Some(D::DeletePod)),
            (S::Starting, A::Delete, Some(D::DeleteAll)),
            (S::Starting, A::Exec, None),
            (S::Running, A::Create, None),
            (S::Running, A::Start, None),
            (S::Running, A::Stop, Some(D::DeletePod)),
            (S::Running, A::Delete, Some(D::DeleteAll)),
            (S::Running, A::Exec, Some(D::Exec)),
            (S::Stopping, A::Create, None),
            (S::Stopping, A::Start, None),
            (S::Stopping, A::Stop, None),
            (S::Stopping, A::Delete, Some(D::DeleteAll)),
            (S::Stopping, A::Exec, None),
            (S::Stopped, A::Create, None),
            (S::Stopped, A::Start, Some(D::CreatePod)),
            (S::Stopped, A::Stop, None),
            (S::Stopped, A::Delete, Some(D::DeleteAll)),
            (S::Stopped, A::Exec, None),
            (S::Failed, A::Create, None),
            (S::Failed, A::Start, Some(D::RecreatePod)),
            (S::Failed, A::Stop, Some(D::DeletePod)),
            (S::Failed, A::Delete, Some(D::DeleteAll)),
            (S::Failed, A::Exec, None),
            (S::Deleting, A::Create, None),
            (S::Deleting, A::Start, None),
            (S::Deleting, A::Stop, None),
            (S::Deleting, A::Delete, Some(D::DeleteAll)),
            (S::Deleting, A::Exec, None),
        ];
        assert_eq!(table.len(), State::ALL.len() * Action::ALL.len());
        for (s, a, want) in table {
            assert_eq!(step(*s, *a).ok().map(|(d, _)| d), *want, "{s:?} × {a:?}");
        }
    }

    #[test]
    fn refusals_read_as_sentences() {
        let e = step(State::Running, Action::Start).unwrap_err();
        assert_eq!(
            format!("cannot start web1: {e}"),
            "cannot start web1: it is already Running"
        );
    }

    #[test]
    fn transition_table_snapshot() {
        insta::assert_snapshot!(transition_table_markdown());
    }

    #[test]
    fn docs_lifecycle_md_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/lifecycle.md");
        let doc = std::fs::read_to_string(&path).unwrap_or_default();
        let table = transition_table_markdown();
        if !doc.contains(&table) {
            let fresh = format!(
                "# CT lifecycle\n\nGenerated from `corral_core::lifecycle::transition_table_markdown` by the test `docs_lifecycle_md_is_current`; edit the code, not this file.\n\nEach cell is the decision and the state the CT moves to, or ✗ and the refusal the user sees (after \"cannot ACTION CT:\").\n\n{table}"
            );
            std::fs::write(&path, fresh).unwrap();
            panic!("docs/lifecycle.md was stale and has been rewritten; commit it");
        }
    }

    fn pod(phase: &str) -> PodFacts {
        PodFacts {
            phase: phase.into(),
            ..Default::default()
        }
    }

    #[test]
    fn observe_names_states_from_facts() {
        let base = Facts {
            record: true,
            record_complete: true,
            volume: VolumePhase::Bound,
            ..Default::default()
        };
        let with = |f: &dyn Fn(&mut Facts)| {
            let mut x = base.clone();
            f(&mut x);
            x
        };
        let cases: Vec<(Facts, State)> = vec![
            (Facts::default(), State::Absent),
            (with(&|f| f.record_complete = false), State::Incomplete),
            (with(&|f| f.record_deleting = true), State::Deleting),
            (base.clone(), State::Stopped),
            (with(&|f| f.volume = VolumePhase::Lost), State::Failed),
            (with(&|f| f.pod = Some(pod("Pending"))), State::Starting),
            (
                with(&|f| {
                    f.volume = VolumePhase::Pending;
                    f.pod = Some(pod("Pending"));
                }),
                State::Provisioning,
            ),
            (
                with(&|f| {
                    f.pod = Some(PodFacts {
                        seeding: true,
                        ..pod("Pending")
                    })
                }),
                State::Seeding,
            ),
            (
                with(&|f| {
                    f.pod = Some(PodFacts {
                        ready: true,
                        ..pod("Running")
                    })
                }),
                State::Running,
            ),
            (with(&|f| f.pod = Some(pod("Running"))), State::Starting),
            (
                with(&|f| {
                    f.pod = Some(PodFacts {
                        deleting: true,
                        ready: true,
                        ..pod("Running")
                    })
                }),
                State::Stopping,
            ),
            (with(&|f| f.pod = Some(pod("Failed"))), State::Failed),
            (with(&|f| f.pod = Some(pod("Succeeded"))), State::Failed),
            (
                with(&|f| {
                    f.pod = Some(PodFacts {
                        problem: Some("ImagePullBackOff: not found".into()),
                        ..pod("Pending")
                    })
                }),
                State::Failed,
            ),
        ];
        for (facts, want) in cases {
            assert_eq!(observe(&facts).0, want, "{facts:?}");
        }
    }

    /// A toy cluster: what the facts look like after a decision is carried
    /// out and the cluster settled. Used to check `step`'s predicted state.
    fn apply(d: Decision, f: &Facts, seeding: bool) -> Facts {
        let mut f = f.clone();
        let new_pod = PodFacts {
            seeding,
            ..pod("Pending")
        };
        match d {
            Decision::CreateAll | Decision::FinishCreate => {
                f.record = true;
                f.record_complete = true;
                f.record_deleting = false;
                f.volume = VolumePhase::Pending;
                f.pod = Some(new_pod);
            }
            Decision::CreatePod | Decision::RecreatePod => f.pod = Some(new_pod),
            Decision::DeletePod => {
                if let Some(p) = &mut f.pod {
                    p.deleting = true;
                }
            }
            Decision::DeleteAll => f.record_deleting = true,
            Decision::Exec => {}
        }
        f
    }

    fn arb_facts() -> impl Strategy<Value = Facts> {
        let pod = (
            prop::sample::select(vec!["Pending", "Running", "Succeeded", "Failed", "Unknown"]),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            prop::option::of(prop::sample::select(vec![
                "ImagePullBackOff",
                "Unschedulable",
                "ContainerCreating",
            ])),
        )
            .prop_map(|(phase, deleting, seeding, ready, problem)| PodFacts {
                phase: phase.into(),
                deleting,
                seeding,
                ready,
                problem: problem.map(String::from),
            });
        (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            prop::sample::select(vec![
                VolumePhase::Pending,
                VolumePhase::Bound,
                VolumePhase::Lost,
            ]),
            prop::option::of(pod),
        )
            .prop_map(
                |(record, record_complete, record_deleting, volume, pod)| Facts {
                    record,
                    record_complete,
                    record_deleting,
                    volume,
                    pod,
                },
            )
    }

    fn arb_action() -> impl Strategy<Value = Action> {
        prop::sample::select(Action::ALL.to_vec())
    }

    proptest! {
        /// No sequence of observations and actions panics or leaves the
        /// defined states, and after an accepted decision the toy cluster
        /// shows the state `step` predicted (or, for a new pod, one of the
        /// start-up states on the way to it).
        #[test]
        fn sequences_stay_defined(start in arb_facts(), actions in prop::collection::vec((arb_action(), any::<bool>()), 1..20)) {
            let mut facts = start;
            for (action, seeding) in actions {
                let (state, _) = observe(&facts);
                prop_assert!(State::ALL.contains(&state));
                if let Ok((decision, predicted)) = step(state, action) {
                    {
                        if decision == Decision::Exec { prop_assert_eq!(state, State::Running); }
                        if action != Action::Create { prop_assert!(state != State::Absent); }
                        let had_pod = facts.pod.is_some();
                        let lost = facts.volume == VolumePhase::Lost;
                        facts = apply(decision, &facts, seeding);
                        let (now, _) = observe(&facts);
                        // A lost volume keeps the CT Failed whatever is done to its pod.
                        if lost && !matches!(decision, Decision::DeleteAll | Decision::CreateAll | Decision::FinishCreate) {
                            prop_assert_eq!(now, State::Failed);
                            continue;
                        }
                        if decision == Decision::DeletePod && !had_pod {
                            continue;
                        }
                        let startup = [State::Provisioning, State::Seeding, State::Starting];
                        if startup.contains(&predicted) {
                            prop_assert!(startup.contains(&now), "{:?} predicted {:?}, saw {:?}", decision, predicted, now);
                        } else {
                            prop_assert_eq!(now, predicted);
                        }
                    }
                }
            }
        }
    }
}
