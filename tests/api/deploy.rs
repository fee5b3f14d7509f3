//! `deploy/docker-compose.yml` cannot be run here (no container engine), so this checks what can go
//! wrong silently: an environment name for the app that the configuration does not read.

use std::collections::BTreeMap;
use std::path::Path;

use mychat::config::{Settings, env_key};

const COMPOSE: &str = include_str!("../../deploy/docker-compose.yml");

/// The `environment:` names of each block (a top-level key, or a service), and which blocks are the
/// app (the `x-mychat` template and the services that merge it in).
fn environment_by_block(yaml: &str) -> (BTreeMap<String, Vec<String>>, Vec<String>) {
    let mut env: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut apps = vec!["x-mychat".to_owned()];
    let (mut top, mut block, mut env_indent) = (String::new(), String::new(), None::<usize>);
    for line in yaml.lines() {
        let text = line.trim_start();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let indent = line.len() - text.len();
        let key = text.split(':').next().unwrap_or_default().trim().to_owned();
        if env_indent.is_some_and(|i| indent <= i) {
            env_indent = None;
        }
        // Still deeper than `environment:`: one of its entries (`NAME: value` or `- NAME=value`).
        if env_indent.is_some() {
            let name = text
                .trim_start_matches("- ")
                .split(['=', ':'])
                .next()
                .unwrap();
            env.entry(block.clone())
                .or_default()
                .push(name.trim().to_owned());
            continue;
        }
        if indent == 0 {
            top = key.clone();
            block = key;
        } else if indent == 2 && top == "services" {
            block = key;
        } else if key == "environment" {
            env_indent = Some(indent);
        } else if text == "<<: *mychat" {
            apps.push(block.clone());
        }
    }
    (env, apps)
}

#[test]
fn every_environment_name_the_compose_file_gives_the_app_is_read_by_the_configuration() {
    let (env, apps) = environment_by_block(COMPOSE);
    assert!(apps.contains(&"mychat-1".to_owned()) && apps.contains(&"mychat-2".to_owned()));
    let figment = Settings::figment("production", Path::new("/nonexistent"));
    let mut checked = 0;
    for app in &apps {
        for name in env.get(app).into_iter().flatten() {
            let key = env_key(name).unwrap_or_else(|| panic!("{app}: {name} is not a MyChat name"));
            assert!(
                figment.find_value(&key).is_ok(),
                "{app}: {name} sets {key}, which the configuration does not have"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 5,
        "the app's environment was found ({checked} names)"
    );
    assert!(env["x-mychat"].contains(&"DATABASE_URL".to_owned()));
    // The scanner itself: the database's own variables are seen, and are not the app's.
    assert!(env["mariadb"].contains(&"MARIADB_DATABASE".to_owned()));
    assert!(
        env_key("MYCHAT__SERVER__STATIC_DIR_USERS")
            .is_some_and(|k| figment.find_value(&k).is_err())
    );
}
