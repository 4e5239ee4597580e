//! Drawing the TUI with ratatui.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Cell, Clear, Paragraph, Row as TRow, Table, TableState, Wrap,
};

use super::app::{App, Kind, Mode};

fn status_color(s: &str) -> Color {
    match s {
        "Running" => Color::Green,
        "Stopped" => Color::DarkGray,
        "Failed" => Color::Red,
        _ => Color::Yellow,
    }
}

/// Draws the whole screen.
pub fn draw(f: &mut Frame, app: &App) {
    let [header, body, help, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(f.area());
    let visible = app.visible();
    let ns = app
        .namespace
        .clone()
        .unwrap_or_else(|| "all namespaces".into());
    let mut head = vec![
        Span::styled(
            " corral ",
            Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ),
        Span::raw(format!(
            " {ns} · {} shown of {} ",
            visible.len(),
            app.rows.len()
        )),
    ];
    match &app.mode {
        Mode::Filter => head.push(Span::styled(
            format!(" filter: {}▏", app.filter),
            Style::default().fg(Color::Cyan),
        )),
        Mode::Namespace(t) => head.push(Span::styled(
            format!(" namespace (empty = all): {t}▏"),
            Style::default().fg(Color::Cyan),
        )),
        _ if !app.filter.is_empty() => head.push(Span::raw(format!(" filter: {}", app.filter))),
        _ => {}
    }
    f.render_widget(Paragraph::new(Line::from(head)), header);

    if !app.loaded {
        f.render_widget(
            Paragraph::new("loading…").block(Block::default().borders(Borders::ALL)),
            body,
        );
    } else if visible.is_empty() {
        let msg = if app.rows.is_empty() {
            format!("No CTs in {ns}. Create one with: corral ct create NAME --image IMAGE")
        } else {
            "Nothing matches the filter (Esc in filter mode clears it).".to_string()
        };
        f.render_widget(
            Paragraph::new(msg).block(Block::default().borders(Borders::ALL)),
            body,
        );
    } else {
        // Only the page of rows that fits is built (10,000 CTs cost one
        // screenful per frame): pages of the body's height, the selected
        // row's page shown.
        let page = usize::from(body.height.saturating_sub(3)).max(1);
        let first = (app.selected / page) * page;
        let rows = visible.iter().skip(first).take(page).map(|r| {
            TRow::new(vec![
                Cell::from(if r.kind == Kind::Ct { "ct" } else { "vm" }),
                Cell::from(r.namespace.clone()),
                Cell::from(r.name.clone()),
                Cell::from(Span::styled(
                    r.status.clone(),
                    Style::default().fg(status_color(&r.status)),
                )),
                Cell::from(r.mode.clone()),
                Cell::from(r.node.clone()),
                Cell::from(r.cpu.clone()),
                Cell::from(r.mem.clone()),
                Cell::from(r.disk.clone()),
            ])
        });
        // The namespace column fits the longest namespace shown (up to a
        // DNS label's 63 characters), so no namespace is cut short.
        let ns_width = visible
            .iter()
            .map(|r| r.namespace.chars().count())
            .max()
            .unwrap_or(0)
            .clamp(9, 63);
        let widths = [
            Constraint::Length(4),
            Constraint::Length(u16::try_from(ns_width).unwrap_or(63)),
            Constraint::Min(10),
            Constraint::Length(12),
            Constraint::Length(12),
            Constraint::Length(12),
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Length(6),
        ];
        let table = Table::new(rows, widths)
            .header(
                TRow::new([
                    "KIND",
                    "NAMESPACE",
                    "NAME",
                    "STATUS",
                    "MODE",
                    "NODE",
                    "CPU",
                    "MEM",
                    "DISK",
                ])
                .style(Style::default().add_modifier(Modifier::BOLD)),
            )
            .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
            .block(Block::default().borders(Borders::ALL));
        let mut state = TableState::default().with_selected(Some(app.selected - first));
        f.render_stateful_widget(table, body, &mut state);
    }
    f.render_widget(
        Paragraph::new(
            " s start · x stop · c/⏎ console · d delete · / filter · n namespace · a all · q quit",
        )
        .style(Style::default().fg(Color::DarkGray)),
        help,
    );
    if let Some((err, msg)) = &app.status {
        let style = if *err {
            Style::default().fg(Color::Red)
        } else {
            Style::default()
        };
        f.render_widget(Paragraph::new(format!(" {msg}")).style(style), status);
    }
    if let Mode::Confirm { namespace, name } = &app.mode {
        let area = centered(f.area(), 64, 7);
        f.render_widget(Clear, area);
        f.render_widget(
            Paragraph::new(format!(
                "Delete CT {namespace}/{name}?\nIts volume {namespace}/{name} and every file on it are deleted.\n\ny: delete · any other key: keep"
            ))
            .wrap(Wrap { trim: true })
            .block(Block::default().borders(Borders::ALL).title(" delete ").style(Style::default().fg(Color::Red))),
            area,
        );
    }
}

fn centered(r: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(r.width);
    let h = h.min(r.height);
    Rect::new(r.x + (r.width - w) / 2, r.y + (r.height - h) / 2, w, h)
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::super::app::{App, Mode};
    use super::*;

    fn render(app: &App) -> String {
        let mut t = Terminal::new(TestBackend::new(100, 12)).unwrap();
        t.draw(|f| draw(f, app)).unwrap();
        t.backend().to_string()
    }

    fn loaded() -> App {
        let mut app = App::new(Some("default".into()));
        app.set_rows(super::super::app::tests_rows());
        app
    }

    #[test]
    fn list_screen() {
        insta::assert_snapshot!(render(&loaded()));
    }

    #[test]
    fn ten_thousand_rows_show_the_selected_rows_page() {
        let mut app = App::new(Some("default".into()));
        let one = super::super::app::tests_rows().remove(0);
        let rows = (0..10_000)
            .map(|i| super::super::app::Row {
                name: format!("ct-{i:05}"),
                ..one.clone()
            })
            .collect();
        app.set_rows(rows);
        for (selected, shown, hidden) in
            [(9_999, "ct-09999", "ct-00000"), (0, "ct-00000", "ct-09999")]
        {
            app.selected = selected;
            let screen = render(&app);
            assert!(screen.contains(shown), "{screen}");
            assert!(!screen.contains(hidden), "{screen}");
        }
    }

    #[test]
    fn long_namespaces_are_shown_whole() {
        let one = super::super::app::tests_rows().remove(0);
        for ns in ["bench-api-10000", "team-twenty-chars-ns"] {
            let mut app = App::new(None);
            app.set_rows(vec![super::super::app::Row {
                namespace: ns.into(),
                ..one.clone()
            }]);
            let screen = render(&app);
            assert!(screen.contains(&format!(" {ns} ")), "{screen}");
        }
    }

    #[test]
    fn empty_screen() {
        let mut app = App::new(Some("team-a".into()));
        app.set_rows(vec![]);
        insta::assert_snapshot!(render(&app));
    }

    #[test]
    fn error_screen() {
        let mut app = loaded();
        app.say(true, "cannot reach the Kubernetes API server (retrying)");
        insta::assert_snapshot!(render(&app));
    }

    #[test]
    fn confirmation_screen() {
        let mut app = loaded();
        app.mode = Mode::Confirm {
            namespace: "default".into(),
            name: "devbox".into(),
        };
        insta::assert_snapshot!(render(&app));
    }
}
