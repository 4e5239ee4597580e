//! `CtService`: the one place CT use cases live. The CLI, the API and the
//! TUI call it; it validates, consults the state machine and calls ports.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::lifecycle::{self, Action, Decision, LifecycleError, State};
use crate::name::{CtRef, Namespace, NodeName};
use crate::ports::{CtPorts, EventInfo, Observed, PortError, ServiceInfo, VolumeInfo};
use crate::spec::{CreateCtRequest, CtSpec, SpecError, StorageMode};

/// What a user sees of one CT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CtView {
    /// The record.
    #[serde(flatten)]
    pub spec: CtSpec,
    /// Observed state.
    pub status: State,
    /// Why it is in that state, when something explains it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Node the pod runs on.
    pub node: Option<String>,
    /// Pod IP.
    pub ip: Option<String>,
    /// When the CT was made (RFC 3339).
    pub created: Option<String>,
    /// Pod name.
    pub pod: Option<String>,
    /// The Service.
    pub service: Option<ServiceInfo>,
    /// The volume.
    pub volume: VolumeInfo,
}

impl From<Observed> for CtView {
    fn from(o: Observed) -> Self {
        let (status, reason) = lifecycle::observe(&o.facts);
        CtView {
            spec: o.spec,
            status,
            reason,
            node: o.node,
            ip: o.ip,
            created: o.created,
            pod: o.pod,
            service: o.service,
            volume: o.volume,
        }
    }
}

/// One CT with its recent events, for `show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CtDetails {
    /// The CT.
    #[serde(flatten)]
    pub view: CtView,
    /// Recent events about its objects.
    pub events: Vec<EventInfo>,
}

/// Where a console or exec session goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecTarget {
    /// The CT.
    pub id: CtRef,
    /// Pod name.
    pub pod: String,
    /// Container name.
    pub container: String,
    /// Storage mode (decides whether the session re-chroots).
    pub mode: StorageMode,
}

/// What went wrong while undoing a failed create.
#[derive(Debug)]
pub struct Cleanup(pub Option<Box<PortError>>);

impl fmt::Display for Cleanup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("nothing was left behind"),
            Some(e) => write!(
                f,
                "undoing it failed too ({e}); run `corral ct delete` on it to remove what is left"
            ),
        }
    }
}

/// The kind of an error, for exit codes and HTTP statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ErrorKind {
    /// Bad input; fix the command.
    Invalid,
    /// The CT or namespace does not exist.
    NotFound,
    /// Name taken, or the CT is in the wrong state.
    Conflict,
    /// RBAC refused the caller.
    Forbidden,
    /// The cluster did not accept the caller's credentials.
    Unauthenticated,
    /// The cluster refused the object (admission, quota).
    Rejected,
    /// The cluster cannot be reached.
    Unreachable,
    /// A wait ran out of time or the CT failed while waited for.
    Timeout,
    /// Anything else.
    Internal,
}

/// Why a service call failed. Each variant is the step that failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Input validation failed before any IO.
    #[error(transparent)]
    Validate(#[from] SpecError),
    /// The action is not allowed in the CT's state.
    #[error("cannot {} {ct}: {source}", action.verb())]
    Lifecycle {
        /// The action.
        action: Action,
        /// The CT.
        ct: CtRef,
        /// Why not.
        #[source]
        source: LifecycleError,
    },
    /// The CT has no record (for reads that are not a lifecycle action).
    #[error("CT {ct} does not exist; `corral ct list` shows the CTs in this namespace")]
    NotFound {
        /// The CT.
        ct: CtRef,
    },
    /// Reading the CT from the cluster failed.
    #[error("reading CT {ct}: {source}")]
    Observe {
        /// The CT.
        ct: CtRef,
        /// Cause.
        #[source]
        source: PortError,
    },
    /// Listing CTs failed.
    #[error("listing CTs: {source}")]
    List {
        /// Cause.
        #[source]
        source: PortError,
    },
    /// Looking up the node the CT is to be pinned to failed; nothing was made.
    #[error("cannot create {ct}: looking up node {node}: {source}; nothing was created")]
    CheckNode {
        /// The CT.
        ct: CtRef,
        /// The node asked for.
        node: NodeName,
        /// Cause.
        #[source]
        source: PortError,
    },
    /// The node the CT is to be pinned to is not in the cluster; nothing was made.
    #[error(
        "cannot create {ct}: node {node} does not exist; nothing was created. `kubectl get nodes` lists the nodes; leave out --node to let the scheduler choose"
    )]
    NodeMissing {
        /// The CT.
        ct: CtRef,
        /// The node asked for.
        node: NodeName,
    },
    /// The cluster would not admit the CT's pod; nothing was made.
    #[error("cannot create {ct}: {source}{}; nothing was created", admission_hint(*mode, source))]
    CheckAdmission {
        /// The CT.
        ct: CtRef,
        /// Its storage mode.
        mode: StorageMode,
        /// Cause.
        #[source]
        source: PortError,
    },
    /// Writing the record (and volume) failed; nothing was made.
    #[error("cannot create {ct}: writing its record and volume: {source}")]
    WriteRecord {
        /// The CT.
        ct: CtRef,
        /// Cause.
        #[source]
        source: PortError,
    },
    /// Another create of the same name won the race, or a half-made CT
    /// of that name has a different spec.
    #[error("cannot create {ct}: {reason}")]
    Conflict {
        /// The CT.
        ct: CtRef,
        /// What conflicts.
        reason: String,
    },
    /// Making the Service failed; what the create had made was undone.
    #[error("cannot create {ct}: making its Service: {source}; {cleanup}")]
    MakeService {
        /// The CT.
        ct: CtRef,
        /// Cause.
        #[source]
        source: PortError,
        /// Outcome of the undo.
        cleanup: Cleanup,
    },
    /// Making the pod failed; what the create had made was undone.
    #[error("cannot {} {ct}: making its pod: {source}; {cleanup}", action.verb())]
    MakePod {
        /// Create or start.
        action: Action,
        /// The CT.
        ct: CtRef,
        /// Cause.
        #[source]
        source: PortError,
        /// Outcome of the undo.
        cleanup: Cleanup,
    },
    /// Marking the record complete failed.
    #[error(
        "cannot create {ct}: marking it complete: {source}; run the same create again to finish it"
    )]
    MarkComplete {
        /// The CT.
        ct: CtRef,
        /// Cause.
        #[source]
        source: PortError,
    },
    /// Deleting the pod failed.
    #[error("cannot {} {ct}: deleting its pod: {source}", action.verb())]
    DeletePod {
        /// Stop, start (of a failed CT) or delete.
        action: Action,
        /// The CT.
        ct: CtRef,
        /// Cause.
        #[source]
        source: PortError,
    },
    /// Deleting the Service failed.
    #[error("cannot delete {ct}: deleting its Service: {source}")]
    DeleteService {
        /// The CT.
        ct: CtRef,
        /// Cause.
        #[source]
        source: PortError,
    },
    /// Deleting the record and volume failed.
    #[error("cannot delete {ct}: deleting its record and volume: {source}")]
    DeleteRecord {
        /// The CT.
        ct: CtRef,
        /// Cause.
        #[source]
        source: PortError,
    },
    /// Waiting for a change failed.
    #[error("waiting for {ct}: {source}")]
    Watch {
        /// The CT.
        ct: CtRef,
        /// Cause.
        #[source]
        source: PortError,
    },
    /// The CT did not reach the wanted state in time.
    #[error("{ct} did not become {want} within {}s (it is {now}{}); `corral ct show {}` tells more", waited.as_secs(), reason_suffix(reason), ct.name)]
    WaitTimeout {
        /// The CT.
        ct: CtRef,
        /// Wanted state.
        want: State,
        /// Last seen state.
        now: State,
        /// Last seen reason.
        reason: Option<String>,
        /// How long it waited.
        waited: Duration,
    },
    /// The CT failed while waited for.
    #[error("{ct} failed while starting: {}; `corral ct show {}` tells more", reason.as_deref().unwrap_or("no reason given"), ct.name)]
    WaitFailed {
        /// The CT.
        ct: CtRef,
        /// Why.
        reason: Option<String>,
    },
}

fn reason_suffix(r: &Option<String>) -> String {
    r.as_ref().map(|r| format!(": {r}")).unwrap_or_default()
}

fn admission_hint(mode: StorageMode, e: &PortError) -> &'static str {
    match (mode, e) {
        (StorageMode::Privileged, PortError::Rejected { message })
            if message.contains("PodSecurity") =>
        {
            ". A privileged CT needs CAP_SYS_ADMIN, which Pod Security \"baseline\" and \"restricted\" forbid: create it in a namespace labelled pod-security.kubernetes.io/enforce=privileged, or drop --privileged"
        }
        _ => "",
    }
}

/// The kind of a port error, for frontends that call ports directly (the console).
pub fn port_kind(e: &PortError) -> ErrorKind {
    match e {
        PortError::NotFound { .. } | PortError::NamespaceMissing { .. } => ErrorKind::NotFound,
        PortError::AlreadyExists { .. } => ErrorKind::Conflict,
        PortError::Forbidden { .. } => ErrorKind::Forbidden,
        PortError::Unauthenticated { .. } => ErrorKind::Unauthenticated,
        PortError::Rejected { .. } => ErrorKind::Rejected,
        PortError::Unreachable { .. } => ErrorKind::Unreachable,
        PortError::BadRecord { .. } | PortError::Api { .. } => ErrorKind::Internal,
    }
}

impl ServiceError {
    /// The kind, for exit codes and HTTP statuses.
    pub fn kind(&self) -> ErrorKind {
        use ServiceError as S;
        match self {
            S::Validate(_) => ErrorKind::Invalid,
            S::Lifecycle { source, .. } => match source {
                LifecycleError::NotFound => ErrorKind::NotFound,
                _ => ErrorKind::Conflict,
            },
            S::Conflict { .. } => ErrorKind::Conflict,
            S::NotFound { .. } | S::NodeMissing { .. } => ErrorKind::NotFound,
            S::WaitTimeout { .. } | S::WaitFailed { .. } => ErrorKind::Timeout,
            S::Observe { source, .. }
            | S::List { source }
            | S::CheckAdmission { source, .. }
            | S::CheckNode { source, .. }
            | S::WriteRecord { source, .. }
            | S::MakeService { source, .. }
            | S::MakePod { source, .. }
            | S::MarkComplete { source, .. }
            | S::DeletePod { source, .. }
            | S::DeleteService { source, .. }
            | S::DeleteRecord { source, .. }
            | S::Watch { source, .. } => port_kind(source),
        }
    }
}

/// How old a half-made CT must be before another create may finish it
/// (younger, it is taken to be a create still at work).
pub const STALE_CREATE_SECONDS: u64 = 10;

/// What a wait is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    /// Running (after create or start).
    Running,
    /// Stopped (after stop).
    Stopped,
    /// Gone (after delete).
    Gone,
}

impl WaitFor {
    fn state(self) -> State {
        match self {
            WaitFor::Running => State::Running,
            WaitFor::Stopped => State::Stopped,
            WaitFor::Gone => State::Absent,
        }
    }
}

/// Progress of a wait: the state now, a reason, time so far.
pub type Progress<'a> = &'a mut (dyn FnMut(State, Option<&str>, Duration) + Send);

/// The CT use cases, over any [`CtPorts`].
pub struct CtService {
    ports: Arc<dyn CtPorts>,
}

impl Clone for CtService {
    fn clone(&self) -> Self {
        CtService {
            ports: Arc::clone(&self.ports),
        }
    }
}

impl CtService {
    /// A service over `ports`.
    pub fn new(ports: Arc<dyn CtPorts>) -> Self {
        CtService { ports }
    }

    async fn state_of(&self, id: &CtRef) -> Result<(State, Option<Observed>), ServiceError> {
        let o = self
            .ports
            .get(id)
            .await
            .map_err(|source| ServiceError::Observe {
                ct: id.clone(),
                source,
            })?;
        let state = o
            .as_ref()
            .map_or(State::Absent, |o| lifecycle::observe(&o.facts).0);
        Ok((state, o))
    }

    fn decide(id: &CtRef, state: State, action: Action) -> Result<Decision, ServiceError> {
        lifecycle::step(state, action)
            .map(|(d, _)| d)
            .map_err(|source| ServiceError::Lifecycle {
                action,
                ct: id.clone(),
                source,
            })
    }

    /// Creates a CT. A failure part-way removes what this call made.
    pub async fn create(&self, req: &CreateCtRequest) -> Result<(), ServiceError> {
        let spec = &req.spec;
        let ct = spec.id.clone();
        let (state, existing) = self.state_of(&ct).await?;
        match Self::decide(&ct, state, Action::Create)? {
            Decision::FinishCreate => {
                // A half-made CT this young is most likely another create
                // still at work: exactly one create of a name may win.
                let age = existing
                    .as_ref()
                    .and_then(|o| o.age_seconds)
                    .unwrap_or(u64::MAX);
                if age < STALE_CREATE_SECONDS {
                    return Err(ServiceError::Conflict {
                        ct,
                        reason: format!(
                            "another create of that name started {age}s ago and is still at work; if it was interrupted, run this create again after {STALE_CREATE_SECONDS}s to finish it, or delete it"
                        ),
                    });
                }
                let existing = existing.map(|o| o.spec);
                if existing.as_ref() != Some(spec) {
                    return Err(ServiceError::Conflict {
                        ct,
                        reason: "a half-made CT of that name exists with a different spec; delete it first, or repeat its original create".into(),
                    });
                }
                self.finish_create(spec, false).await
            }
            _ => {
                if let Some(node) = &spec.node {
                    let exists = self.ports.node_exists(node).await.map_err(|source| {
                        ServiceError::CheckNode {
                            ct: ct.clone(),
                            node: node.clone(),
                            source,
                        }
                    })?;
                    if exists == Some(false) {
                        return Err(ServiceError::NodeMissing {
                            ct,
                            node: node.clone(),
                        });
                    }
                }
                self.ports.check_admission(spec).await.map_err(|source| {
                    ServiceError::CheckAdmission {
                        ct: ct.clone(),
                        mode: spec.mode,
                        source,
                    }
                })?;
                self.ports
                    .create_record(spec)
                    .await
                    .map_err(|source| match source {
                        PortError::AlreadyExists { .. } => ServiceError::Conflict {
                            ct: ct.clone(),
                            reason: "another create of that name won; nothing of it was touched"
                                .into(),
                        },
                        source => ServiceError::WriteRecord {
                            ct: ct.clone(),
                            source,
                        },
                    })?;
                self.finish_create(spec, true).await
            }
        }
    }

    async fn finish_create(&self, spec: &CtSpec, undo: bool) -> Result<(), ServiceError> {
        let ct = &spec.id;
        if let Err(source) = self.ports.ensure_service(spec).await {
            let cleanup = self.undo_create(ct, undo).await;
            return Err(ServiceError::MakeService {
                ct: ct.clone(),
                source,
                cleanup,
            });
        }
        if let Err(source) = self.ports.ensure_pod(spec).await {
            let cleanup = self.undo_create(ct, undo).await;
            return Err(ServiceError::MakePod {
                action: Action::Create,
                ct: ct.clone(),
                source,
                cleanup,
            });
        }
        self.ports
            .mark_complete(ct)
            .await
            .map_err(|source| ServiceError::MarkComplete {
                ct: ct.clone(),
                source,
            })
    }

    /// Undoes a create this call started; a finish of an older create is left as it is.
    async fn undo_create(&self, ct: &CtRef, undo: bool) -> Cleanup {
        if !undo {
            return Cleanup(None);
        }
        let r = async {
            self.ports.delete_pod(ct).await?;
            self.ports.delete_service(ct).await?;
            self.ports.delete_record(ct).await
        }
        .await;
        Cleanup(r.err().map(Box::new))
    }

    /// Starts a stopped (or failed) CT from its record.
    pub async fn start(&self, ct: &CtRef) -> Result<(), ServiceError> {
        let (state, o) = self.state_of(ct).await?;
        let decision = Self::decide(ct, state, Action::Start)?;
        let Some(o) = o else {
            return Err(ServiceError::Lifecycle {
                action: Action::Start,
                ct: ct.clone(),
                source: LifecycleError::NotFound,
            });
        };
        if decision == Decision::RecreatePod {
            self.ports
                .delete_pod(ct)
                .await
                .map_err(|source| ServiceError::DeletePod {
                    action: Action::Start,
                    ct: ct.clone(),
                    source,
                })?;
            // The old pod must be gone before one of the same name is made.
            self.wait(
                ct,
                WaitFor::Stopped,
                Duration::from_secs(60),
                &mut |_, _, _| {},
            )
            .await?;
        }
        self.ports
            .ensure_pod(&o.spec)
            .await
            .map_err(|source| ServiceError::MakePod {
                action: Action::Start,
                ct: ct.clone(),
                source,
                cleanup: Cleanup(None),
            })
    }

    /// Stops a CT: deletes its pod, keeps record, volume and Service.
    pub async fn stop(&self, ct: &CtRef) -> Result<(), ServiceError> {
        let (state, _) = self.state_of(ct).await?;
        Self::decide(ct, state, Action::Stop)?;
        self.ports
            .delete_pod(ct)
            .await
            .map_err(|source| ServiceError::DeletePod {
                action: Action::Stop,
                ct: ct.clone(),
                source,
            })
    }

    /// Deletes a CT and its volume. The one call that removes user data.
    pub async fn delete(&self, ct: &CtRef) -> Result<(), ServiceError> {
        let (state, _) = self.state_of(ct).await?;
        Self::decide(ct, state, Action::Delete)?;
        self.ports
            .delete_pod(ct)
            .await
            .map_err(|source| ServiceError::DeletePod {
                action: Action::Delete,
                ct: ct.clone(),
                source,
            })?;
        self.ports
            .delete_service(ct)
            .await
            .map_err(|source| ServiceError::DeleteService {
                ct: ct.clone(),
                source,
            })?;
        self.ports
            .delete_record(ct)
            .await
            .map_err(|source| ServiceError::DeleteRecord {
                ct: ct.clone(),
                source,
            })
    }

    /// One CT.
    pub async fn get(&self, ct: &CtRef) -> Result<CtView, ServiceError> {
        match self.state_of(ct).await? {
            (_, Some(o)) => Ok(o.into()),
            (_, None) => Err(ServiceError::NotFound { ct: ct.clone() }),
        }
    }

    /// One CT with its recent events.
    pub async fn describe(&self, ct: &CtRef) -> Result<CtDetails, ServiceError> {
        let view = self.get(ct).await?;
        let events = self
            .ports
            .events(ct)
            .await
            .map_err(|source| ServiceError::Observe {
                ct: ct.clone(),
                source,
            })?;
        Ok(CtDetails { view, events })
    }

    /// CTs in a namespace (or all namespaces), sorted by namespace then name.
    pub async fn list(&self, namespace: Option<Namespace>) -> Result<Vec<CtView>, ServiceError> {
        let mut v: Vec<CtView> = self
            .ports
            .list(namespace)
            .await
            .map_err(|source| ServiceError::List { source })?
            .into_iter()
            .map(CtView::from)
            .collect();
        v.sort_by(|a, b| a.spec.id.cmp(&b.spec.id));
        Ok(v)
    }

    /// Where a console or exec session for `ct` goes; refused unless Running.
    pub async fn exec_target(&self, ct: &CtRef) -> Result<ExecTarget, ServiceError> {
        let (state, o) = self.state_of(ct).await?;
        Self::decide(ct, state, Action::Exec)?;
        let o = o.ok_or_else(|| ServiceError::Lifecycle {
            action: Action::Exec,
            ct: ct.clone(),
            source: LifecycleError::NotFound,
        })?;
        Ok(ExecTarget {
            id: ct.clone(),
            pod: o.pod.unwrap_or_else(|| ct.name.to_string()),
            container: crate::record::MAIN_CONTAINER.to_string(),
            mode: o.spec.mode,
        })
    }

    /// Waits until the CT reaches `want`, reporting each state seen.
    pub async fn wait(
        &self,
        ct: &CtRef,
        want: WaitFor,
        timeout: Duration,
        progress: Progress<'_>,
    ) -> Result<(), ServiceError> {
        let started = Instant::now();
        loop {
            let (state, o) = self.state_of(ct).await?;
            let reason = o
                .map(|o| lifecycle::observe(&o.facts).1)
                .unwrap_or_default();
            progress(state, reason.as_deref(), started.elapsed());
            if state == want.state() {
                return Ok(());
            }
            if want == WaitFor::Running && state == State::Failed {
                return Err(ServiceError::WaitFailed {
                    ct: ct.clone(),
                    reason,
                });
            }
            let waited = started.elapsed();
            if waited >= timeout {
                return Err(ServiceError::WaitTimeout {
                    ct: ct.clone(),
                    want: want.state(),
                    now: state,
                    reason,
                    waited,
                });
            }
            let slice = (timeout - waited).min(Duration::from_secs(5));
            self.ports
                .wait_for_change(ct, slice)
                .await
                .map_err(|source| ServiceError::Watch {
                    ct: ct.clone(),
                    source,
                })?;
        }
    }
}
