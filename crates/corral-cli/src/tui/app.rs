//! The TUI's state and key handling: pure, so every screen is testable.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A Corral CT.
    Ct,
    /// A KubeVirt VirtualMachineInstance (shown, not managed).
    Vm,
}

/// One line of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// CT or VM.
    pub kind: Kind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// State.
    pub status: String,
    /// Storage mode (CTs).
    pub mode: String,
    /// Node.
    pub node: String,
    /// CPU.
    pub cpu: String,
    /// Memory.
    pub mem: String,
    /// Disk.
    pub disk: String,
}

/// What the keyboard is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Moving and acting.
    Normal,
    /// Typing a filter.
    Filter,
    /// Asking before a delete.
    Confirm {
        /// Namespace of the CT.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// Typing a namespace.
    Namespace(String),
}

/// What the loop must do after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Leave.
    Quit,
    /// Start a CT (namespace, name).
    Start(String, String),
    /// Stop a CT.
    Stop(String, String),
    /// Delete a CT (confirmed).
    Delete(String, String),
    /// Open a console.
    Console(String, String),
    /// Show another namespace (`None`: all).
    SetNamespace(Option<String>),
}

/// The whole screen state.
#[derive(Debug, Clone)]
pub struct App {
    /// Everything listed.
    pub rows: Vec<Row>,
    /// Index into the visible rows.
    pub selected: usize,
    /// Filter text.
    pub filter: String,
    /// Keyboard mode.
    pub mode: Mode,
    /// Last message, and whether it is an error.
    pub status: Option<(bool, String)>,
    /// Namespace shown; `None` for all.
    pub namespace: Option<String>,
    /// A list has arrived.
    pub loaded: bool,
}

impl App {
    /// A fresh app showing `namespace`.
    pub fn new(namespace: Option<String>) -> Self {
        App {
            rows: Vec::new(),
            selected: 0,
            filter: String::new(),
            mode: Mode::Normal,
            status: None,
            namespace,
            loaded: false,
        }
    }

    /// Rows matching the filter (name, namespace, status or node contain it).
    pub fn visible(&self) -> Vec<&Row> {
        let f = self.filter.to_lowercase();
        self.rows
            .iter()
            .filter(|r| {
                f.is_empty()
                    || [&r.name, &r.namespace, &r.status, &r.node]
                        .iter()
                        .any(|s| s.to_lowercase().contains(&f))
            })
            .collect()
    }

    /// Replaces the rows, keeping the selection on the same CT when it is still there.
    pub fn set_rows(&mut self, rows: Vec<Row>) {
        let keep = self
            .current()
            .map(|r| (r.namespace.clone(), r.name.clone()));
        self.rows = rows;
        self.loaded = true;
        if let Some((ns, name)) = keep
            && let Some(i) = self
                .visible()
                .iter()
                .position(|r| r.namespace == ns && r.name == name)
        {
            self.selected = i;
        }
        self.clamp();
    }

    fn clamp(&mut self) {
        let n = self.visible().len();
        self.selected = if n == 0 { 0 } else { self.selected.min(n - 1) };
    }

    /// The selected row.
    pub fn current(&self) -> Option<&Row> {
        self.visible().get(self.selected).copied()
    }

    /// Sets the status line.
    pub fn say(&mut self, error: bool, msg: impl Into<String>) {
        self.status = Some((error, msg.into()));
    }

    /// Handles one key.
    pub fn handle(&mut self, key: KeyEvent) -> Option<Command> {
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            return Some(Command::Quit);
        }
        match self.mode.clone() {
            Mode::Filter => {
                match key.code {
                    KeyCode::Esc => {
                        self.filter.clear();
                        self.mode = Mode::Normal;
                    }
                    KeyCode::Enter => self.mode = Mode::Normal,
                    KeyCode::Backspace => {
                        self.filter.pop();
                    }
                    KeyCode::Char(c) => self.filter.push(c),
                    _ => {}
                }
                self.clamp();
                None
            }
            Mode::Namespace(mut typed) => match key.code {
                KeyCode::Esc => {
                    self.mode = Mode::Normal;
                    None
                }
                KeyCode::Enter => {
                    self.mode = Mode::Normal;
                    let ns = (!typed.trim().is_empty()).then(|| typed.trim().to_string());
                    self.namespace = ns.clone();
                    self.loaded = false;
                    Some(Command::SetNamespace(ns))
                }
                KeyCode::Backspace => {
                    typed.pop();
                    self.mode = Mode::Namespace(typed);
                    None
                }
                KeyCode::Char(c) => {
                    typed.push(c);
                    self.mode = Mode::Namespace(typed);
                    None
                }
                _ => None,
            },
            Mode::Confirm { namespace, name } => {
                self.mode = Mode::Normal;
                if key.code == KeyCode::Char('y') {
                    Some(Command::Delete(namespace, name))
                } else {
                    self.say(false, format!("kept {namespace}/{name}"));
                    None
                }
            }
            Mode::Normal => self.normal(key),
        }
    }

    fn normal(&mut self, key: KeyEvent) -> Option<Command> {
        let n = self.visible().len();
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => return Some(Command::Quit),
            KeyCode::Down | KeyCode::Char('j') if n > 0 => {
                self.selected = (self.selected + 1).min(n - 1)
            }
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::PageDown => self.selected = (self.selected + 20).min(n.saturating_sub(1)),
            KeyCode::PageUp => self.selected = self.selected.saturating_sub(20),
            KeyCode::Char('/') => self.mode = Mode::Filter,
            KeyCode::Char('n') => {
                self.mode = Mode::Namespace(self.namespace.clone().unwrap_or_default())
            }
            KeyCode::Char('a') => {
                self.namespace = None;
                self.loaded = false;
                return Some(Command::SetNamespace(None));
            }
            KeyCode::Char('s' | 'x' | 'c' | 'd') | KeyCode::Enter if n > 0 => {
                let c = match key.code {
                    KeyCode::Char(c) => c,
                    _ => 'c',
                };
                let row = self.current()?.clone();
                if row.kind == Kind::Vm {
                    self.say(
                        false,
                        format!(
                            "{}/{} is a VM: shown here, managed with KubeVirt's tools",
                            row.namespace, row.name
                        ),
                    );
                    return None;
                }
                let (ns, name) = (row.namespace, row.name);
                return match c {
                    's' => Some(Command::Start(ns, name)),
                    'x' => Some(Command::Stop(ns, name)),
                    'c' => Some(Command::Console(ns, name)),
                    _ => {
                        self.mode = Mode::Confirm {
                            namespace: ns,
                            name,
                        };
                        None
                    }
                };
            }
            _ => {}
        }
        None
    }
}

/// Sample rows for the screen snapshots.
#[cfg(test)]
pub fn tests_rows() -> Vec<Row> {
    tests::rows()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    pub(crate) fn rows() -> Vec<Row> {
        let r = |kind, ns: &str, name: &str, status: &str, node: &str| Row {
            kind,
            namespace: ns.into(),
            name: name.into(),
            status: status.into(),
            mode: if kind == Kind::Ct {
                "unprivileged".into()
            } else {
                "-".into()
            },
            node: node.into(),
            cpu: "1".into(),
            mem: "512Mi".into(),
            disk: "5Gi".into(),
        };
        vec![
            r(Kind::Ct, "default", "devbox", "Running", "node-a"),
            r(Kind::Ct, "default", "web1", "Stopped", "-"),
            r(Kind::Vm, "default", "win11", "Running", "node-b"),
        ]
    }

    #[test]
    fn keys_become_commands() {
        let mut app = App::new(Some("default".into()));
        app.set_rows(rows());
        let cases: Vec<(Vec<KeyEvent>, Option<Command>)> = vec![
            (
                vec![key('s')],
                Some(Command::Start("default".into(), "devbox".into())),
            ),
            (
                vec![key('j'), key('s')],
                Some(Command::Start("default".into(), "web1".into())),
            ),
            (
                vec![key('x')],
                Some(Command::Stop("default".into(), "devbox".into())),
            ),
            (
                vec![key('c')],
                Some(Command::Console("default".into(), "devbox".into())),
            ),
            (
                vec![key('d'), key('y')],
                Some(Command::Delete("default".into(), "devbox".into())),
            ),
            (vec![key('d'), key('n')], None),
            (vec![key('j'), key('j'), key('s')], None),
            (vec![key('q')], Some(Command::Quit)),
            (vec![key('a')], Some(Command::SetNamespace(None))),
            (
                vec![
                    key('n'),
                    KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE),
                    key('x'),
                    KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE),
                ],
                Some(Command::SetNamespace(Some("defaulx".into()))),
            ),
        ];
        for (keys, want) in cases {
            let mut a = app.clone();
            let got = keys.into_iter().map(|k| a.handle(k)).last().flatten();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn filter_narrows_and_keeps_selection_valid() {
        let mut app = App::new(None);
        app.set_rows(rows());
        app.selected = 2;
        for c in "/web".chars() {
            app.handle(key(c));
        }
        assert_eq!(app.visible().len(), 1);
        assert_eq!(app.selected, 0);
        assert_eq!(app.current().unwrap().name, "web1");
    }
}
