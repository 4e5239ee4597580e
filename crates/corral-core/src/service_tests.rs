//! Service-layer tests over mockall mocks of the ports.

use std::sync::Arc;

use futures::executor::block_on;
use mockall::Sequence;

use crate::lifecycle::{Facts, PodFacts, VolumePhase};
use crate::ports::{MockCtPorts, Observed, PortError, VolumeInfo};
use crate::service::{CtService, ErrorKind, ServiceError};
use crate::spec::{CreateCtInput, CreateCtRequest, CtSpec};

/// Chainable fixture: `Ct::test("web1").privileged().running()`.
#[derive(Clone)]
struct Ct {
    input: CreateCtInput,
    facts: Facts,
    age: u64,
}

impl Ct {
    fn test(name: &str) -> Self {
        Ct {
            input: CreateCtInput {
                namespace: "default".into(),
                name: name.into(),
                image: "debian:bookworm".into(),
                ..Default::default()
            },
            facts: Facts {
                record: true,
                record_complete: true,
                volume: VolumePhase::Bound,
                ..Default::default()
            },
            age: 3600,
        }
    }
    fn privileged(mut self) -> Self {
        self.input.privileged = true;
        self
    }
    fn running(mut self) -> Self {
        self.facts.pod = Some(PodFacts {
            phase: "Running".into(),
            ready: true,
            ..Default::default()
        });
        self
    }
    fn stopped(mut self) -> Self {
        self.facts.pod = None;
        self
    }
    fn incomplete(mut self) -> Self {
        self.facts.record_complete = false;
        self
    }
    fn just_made(mut self) -> Self {
        self.age = 2;
        self
    }
    fn request(&self) -> CreateCtRequest {
        CreateCtRequest::validate(&self.input).unwrap()
    }
    fn spec(&self) -> CtSpec {
        self.request().spec
    }
    fn observed(&self) -> Observed {
        Observed {
            spec: self.spec(),
            facts: self.facts.clone(),
            created: None,
            age_seconds: Some(self.age),
            node: None,
            ip: None,
            pod: self.facts.pod.as_ref().map(|_| self.input.name.clone()),
            service: None,
            volume: VolumeInfo::default(),
        }
    }
}

fn api_err() -> PortError {
    PortError::Api {
        source: "boom".into(),
    }
}

fn service(m: MockCtPorts) -> CtService {
    CtService::new(Arc::new(m))
}

#[test]
fn create_makes_record_service_pod_in_order() {
    let ct = Ct::test("web1");
    let mut m = MockCtPorts::new();
    let mut seq = Sequence::new();
    m.expect_get()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(None));
    m.expect_check_admission()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    m.expect_create_record()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    m.expect_ensure_service()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    m.expect_ensure_pod()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    m.expect_mark_complete()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    block_on(service(m).create(&ct.request())).unwrap();
}

#[test]
fn create_pinned_to_a_node_checks_the_node_first() {
    // (what the cluster says of the node, whether the create goes on)
    for (exists, goes_on) in [(Some(true), true), (None, true), (Some(false), false)] {
        let mut ct = Ct::test("web1");
        ct.input.node = Some("node-a".into());
        let mut m = MockCtPorts::new();
        m.expect_get().returning(|_| Ok(None));
        m.expect_node_exists()
            .times(1)
            .withf(|n| n.as_str() == "node-a")
            .returning(move |_| Ok(exists));
        let n = usize::from(goes_on);
        m.expect_check_admission().times(n).returning(|_| Ok(()));
        m.expect_create_record().times(n).returning(|_| Ok(()));
        m.expect_ensure_service().times(n).returning(|_| Ok(()));
        m.expect_ensure_pod().times(n).returning(|_| Ok(()));
        m.expect_mark_complete().times(n).returning(|_| Ok(()));
        let r = block_on(service(m).create(&ct.request()));
        if goes_on {
            r.unwrap();
        } else {
            let e = r.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
            let msg = e.to_string();
            assert!(
                msg.contains("node node-a does not exist") && msg.contains("kubectl get nodes"),
                "{msg}"
            );
        }
    }
}

#[test]
fn create_whose_second_step_fails_removes_what_the_first_made() {
    let ct = Ct::test("web1");
    let mut m = MockCtPorts::new();
    m.expect_get().returning(|_| Ok(None));
    m.expect_check_admission().returning(|_| Ok(()));
    m.expect_create_record().times(1).returning(|_| Ok(()));
    m.expect_ensure_service()
        .times(1)
        .returning(|_| Err(api_err()));
    m.expect_ensure_pod().never();
    m.expect_delete_pod().times(1).returning(|_| Ok(()));
    m.expect_delete_service().times(1).returning(|_| Ok(()));
    m.expect_delete_record().times(1).returning(|_| Ok(()));
    let e = block_on(service(m).create(&ct.request())).unwrap_err();
    assert!(matches!(e, ServiceError::MakeService { .. }), "{e}");
    assert!(e.to_string().contains("nothing was left behind"), "{e}");
}

#[test]
fn create_whose_pod_fails_and_cleanup_fails_says_what_to_do() {
    let ct = Ct::test("web1");
    let mut m = MockCtPorts::new();
    m.expect_get().returning(|_| Ok(None));
    m.expect_check_admission().returning(|_| Ok(()));
    m.expect_create_record().returning(|_| Ok(()));
    m.expect_ensure_service().returning(|_| Ok(()));
    m.expect_ensure_pod().returning(|_| Err(api_err()));
    m.expect_delete_pod().returning(|_| Ok(()));
    m.expect_delete_service().returning(|_| Err(api_err()));
    m.expect_delete_record().never();
    let e = block_on(service(m).create(&ct.request())).unwrap_err();
    assert!(e.to_string().contains("run `corral ct delete`"), "{e}");
}

#[test]
fn losing_a_create_race_touches_nothing_of_the_winner() {
    let ct = Ct::test("web1");
    let mut m = MockCtPorts::new();
    m.expect_get().returning(|_| Ok(None));
    m.expect_check_admission().returning(|_| Ok(()));
    m.expect_create_record().returning(|_| {
        Err(PortError::AlreadyExists {
            what: "persistentvolumeclaim web1".into(),
        })
    });
    m.expect_delete_pod().never();
    m.expect_delete_service().never();
    m.expect_delete_record().never();
    let e = block_on(service(m).create(&ct.request())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
}

#[test]
fn refused_admission_writes_nothing() {
    let ct = Ct::test("devbox").privileged();
    let mut m = MockCtPorts::new();
    m.expect_get().returning(|_| Ok(None));
    m.expect_check_admission().returning(|_| {
        Err(PortError::Rejected {
            message: "pods \"devbox\" is forbidden: violates PodSecurity \"restricted:latest\""
                .into(),
        })
    });
    m.expect_create_record().never();
    let e = block_on(service(m).create(&ct.request())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Rejected);
    let msg = e.to_string();
    assert!(
        msg.contains("pod-security.kubernetes.io/enforce=privileged"),
        "{msg}"
    );
    assert!(msg.contains("nothing was created"), "{msg}");
}

#[test]
fn create_of_an_existing_name_is_a_conflict_without_writes() {
    let ct = Ct::test("web1").running();
    let o = ct.observed();
    let mut m = MockCtPorts::new();
    m.expect_get().returning(move |_| Ok(Some(o.clone())));
    m.expect_check_admission().never();
    m.expect_create_record().never();
    let e = block_on(service(m).create(&ct.request())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.to_string().contains("already exists"), "{e}");
}

#[test]
fn create_finishes_a_half_made_ct_of_the_same_spec() {
    let ct = Ct::test("web1").incomplete();
    let o = ct.observed();
    let mut m = MockCtPorts::new();
    m.expect_get().returning(move |_| Ok(Some(o.clone())));
    m.expect_create_record().never();
    m.expect_ensure_service().times(1).returning(|_| Ok(()));
    m.expect_ensure_pod().times(1).returning(|_| Ok(()));
    m.expect_mark_complete().times(1).returning(|_| Ok(()));
    block_on(service(m).create(&ct.request())).unwrap();
}

#[test]
fn create_refuses_to_finish_a_half_made_ct_of_another_spec() {
    let ct = Ct::test("web1").incomplete();
    let o = ct.observed();
    let mut other = ct.clone();
    other.input.cpu = Some("2".into());
    let mut m = MockCtPorts::new();
    m.expect_get().returning(move |_| Ok(Some(o.clone())));
    m.expect_ensure_service().never();
    let e = block_on(service(m).create(&other.request())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
}

#[test]
fn start_on_a_running_ct_makes_no_cluster_call() {
    let ct = Ct::test("web1").running();
    let o = ct.observed();
    let mut m = MockCtPorts::new();
    m.expect_get()
        .times(1)
        .returning(move |_| Ok(Some(o.clone())));
    m.expect_ensure_pod().never();
    m.expect_delete_pod().never();
    let e = block_on(service(m).start(&ct.spec().id)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot start default/web1: it is already Running"
    );
    assert_eq!(e.kind(), ErrorKind::Conflict);
}

#[test]
fn start_of_a_stopped_ct_makes_its_pod_from_the_record() {
    let ct = Ct::test("web1").stopped();
    let o = ct.observed();
    let want = ct.spec();
    let mut m = MockCtPorts::new();
    m.expect_get().returning(move |_| Ok(Some(o.clone())));
    m.expect_ensure_pod()
        .withf(move |s| *s == want)
        .times(1)
        .returning(|_| Ok(()));
    block_on(service(m).start(&ct.spec().id)).unwrap();
}

#[test]
fn stop_deletes_only_the_pod() {
    let ct = Ct::test("web1").running();
    let o = ct.observed();
    let mut m = MockCtPorts::new();
    m.expect_get().returning(move |_| Ok(Some(o.clone())));
    m.expect_delete_pod().times(1).returning(|_| Ok(()));
    m.expect_delete_service().never();
    m.expect_delete_record().never();
    block_on(service(m).stop(&ct.spec().id)).unwrap();
}

#[test]
fn stop_of_a_stopped_ct_is_refused() {
    let ct = Ct::test("web1").stopped();
    let o = ct.observed();
    let mut m = MockCtPorts::new();
    m.expect_get().returning(move |_| Ok(Some(o.clone())));
    m.expect_delete_pod().never();
    let e = block_on(service(m).stop(&ct.spec().id)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot stop default/web1: it is already stopped"
    );
}

#[test]
fn delete_of_a_missing_ct_is_not_found_not_success() {
    let ct = Ct::test("ghost");
    let mut m = MockCtPorts::new();
    m.expect_get().returning(|_| Ok(None));
    m.expect_delete_record().never();
    let e = block_on(service(m).delete(&ct.spec().id)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[test]
fn delete_removes_pod_service_and_record() {
    let ct = Ct::test("web1").running();
    let o = ct.observed();
    let mut m = MockCtPorts::new();
    let mut seq = Sequence::new();
    m.expect_get().returning(move |_| Ok(Some(o.clone())));
    m.expect_delete_pod()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    m.expect_delete_service()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    m.expect_delete_record()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    block_on(service(m).delete(&ct.spec().id)).unwrap();
}

#[test]
fn console_of_a_stopped_ct_is_refused_and_running_privileged_rechroots() {
    let stopped = Ct::test("devbox").privileged().stopped();
    let o = stopped.observed();
    let mut m = MockCtPorts::new();
    m.expect_get().returning(move |_| Ok(Some(o.clone())));
    let e = block_on(service(m).exec_target(&stopped.spec().id)).unwrap_err();
    assert!(
        e.to_string().contains("it is not running (state Stopped)"),
        "{e}"
    );

    let running = Ct::test("devbox").privileged().running();
    let o = running.observed();
    let mut m = MockCtPorts::new();
    m.expect_get().returning(move |_| Ok(Some(o.clone())));
    let t = block_on(service(m).exec_target(&running.spec().id)).unwrap();
    assert_eq!(t.mode, crate::StorageMode::Privileged);
    assert_eq!(crate::entrypoint::console_command(t.mode)[0], "chroot");
}

#[test]
fn unreachable_cluster_maps_to_its_kind() {
    let ct = Ct::test("web1");
    let mut m = MockCtPorts::new();
    m.expect_get().returning(|_| {
        Err(PortError::Unreachable {
            source: "connection refused".into(),
        })
    });
    let e = block_on(service(m).start(&ct.spec().id)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unreachable);
}

#[test]
fn a_create_still_at_work_is_not_finished_by_a_second_create() {
    let ct = Ct::test("web1").incomplete().just_made();
    let o = ct.observed();
    let mut m = MockCtPorts::new();
    m.expect_get().returning(move |_| Ok(Some(o.clone())));
    m.expect_ensure_service().never();
    m.expect_ensure_pod().never();
    m.expect_mark_complete().never();
    let e = block_on(service(m).create(&ct.request())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.to_string().contains("still at work"), "{e}");
}
