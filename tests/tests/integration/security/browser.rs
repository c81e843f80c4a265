//! A real browser (headless Chromium, `scripts/install-browser.sh`) against
//! the real server: GraphiQL works from the server's own files under its
//! Content-Security-Policy with every other name unresolvable; a page on
//! another site cannot change or read the loopback store by fetch, form or
//! WebSocket, while the same page allowed by `cors_allowed_origins` can
//! (so the attacks are real); a DNS-rebinding page gets nothing.

use cairn_tests::TestServer;
use cairn_tests::browser::Browser;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::put;

const SECRET: &str = "the launch code is 0000";

/// Only the test names resolve, to loopback; nothing else resolves at all.
const HOSTS: &str = "MAP evil.example 127.0.0.1, MAP rebind.evil.example 127.0.0.1, \
                     MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost";

async fn read(server: &TestServer, key: &str) -> anyhow::Result<Option<String>> {
    let response = reqwest::Client::new()
        .get(format!("{}/v1/contexts/{key}?view=full", server.url()))
        .header("accept", "text/plain")
        .send()
        .await?;
    Ok(if response.status() == StatusCode::OK {
        Some(response.text().await?)
    } else {
        None
    })
}

async fn sessions(server: &TestServer) -> anyhow::Result<usize> {
    let body: Value = reqwest::get(format!("{}/v1/sessions", server.url()))
        .await?
        .text()
        .await?
        .parse()?;
    Ok(body["sessions"].as_array().map_or(0, Vec::len))
}

fn port(server: &TestServer) -> u16 {
    server
        .url()
        .rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .expect("the server's URL has a port")
}

#[tokio::test]
async fn graphiql_runs_from_the_servers_own_files_under_its_policy() -> anyhow::Result<()> {
    let Some(mut browser) = Browser::launch(HOSTS).await? else {
        return Ok(());
    };
    let server = TestServer::start().await?;
    put(&server, "notes/hello", "hello from the store").await?;
    let response = reqwest::get(format!("{}/graphql", server.url())).await?;
    let policy = response
        .headers()
        .get("content-security-policy")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(
        !response.text().await?.contains("https://"),
        "no outside URL in the page"
    );

    browser.open(&format!("{}/graphql", server.url())).await?;
    browser
        .wait_for("!!document.querySelector('.graphiql-container')")
        .await?;
    // The schema loads (GraphiQL's own introspection request): the
    // documentation explorer lists the root types.
    browser
        .eval("document.querySelector('[aria-label=\"Show Documentation Explorer\"]').click()")
        .await?;
    browser
        .wait_for(
            "(document.querySelector('.graphiql-doc-explorer')?.textContent || '')\
             .includes('Mutation')",
        )
        .await?;
    // A query from the page, and its WebSocket, both allowed by the policy.
    let answer = browser
        .eval(
            "fetch('/graphql', {method: 'POST', headers: {'content-type': 'application/json'}, \
             body: JSON.stringify({query: '{ context(key: \"notes/hello\", view: FULL) { content } }'})})\
             .then(r => r.json())",
        )
        .await?;
    assert_eq!(
        answer["data"]["context"]["content"], "hello from the store",
        "{answer}"
    );
    let socket = browser
        .eval(
            "new Promise(done => { const ws = new WebSocket(location.href.replace('http', 'ws'), \
             'graphql-transport-ws'); ws.onopen = () => { ws.close(); done('open'); }; \
             ws.onerror = () => done('error'); })",
        )
        .await?;
    assert_eq!(socket, "open");
    // An inline script does not run: an injected one would not either.
    let ran = browser
        .eval(
            "new Promise(done => { const s = document.createElement('script'); \
             s.textContent = 'window.injected = true'; document.body.appendChild(s); \
             setTimeout(() => done(window.injected === true), 100); })",
        )
        .await?;
    assert_eq!(ran, false, "the policy stops inline scripts");
    let complaints: Vec<String> = browser
        .complaints()
        .into_iter()
        .filter(|complaint| !complaint.contains("window.injected"))
        .collect();
    assert!(
        complaints
            .iter()
            .all(|complaint| complaint.contains("Content Security Policy")
                && complaint.contains("inline")),
        "the browser complained: {complaints:#?}"
    );
    Ok(())
}

/// The attacks a page on `evil.example` makes on the server at `cairn`:
/// a read, a WebSocket query, a form posting a session import into a
/// hidden frame, a no-CORS `text/plain` GraphQL delete. Returns what the
/// page saw.
const ATTACKS: &str = r#"
(async (cairn) => {
  const seen = {};
  try {
    seen.read = await (await fetch(cairn + '/v1/contexts/notes/secret?view=full')).text();
  } catch (error) { seen.read = 'blocked: ' + error; }
  seen.socket = await new Promise(done => {
    const ws = new WebSocket(cairn.replace('http', 'ws') + '/graphql', 'graphql-transport-ws');
    const got = [];
    ws.onopen = () => {
      ws.send(JSON.stringify({type: 'connection_init'}));
      ws.send(JSON.stringify({id: '1', type: 'subscribe', payload:
        {query: '{ context(key: "notes/secret", view: FULL) { content } }'}}));
    };
    ws.onmessage = (event) => got.push(event.data);
    ws.onerror = () => done('refused ' + got.join(' '));
    ws.onclose = () => done('closed ' + got.join(' '));
    setTimeout(() => done('open ' + got.join(' ')), 3000);
  });
  await new Promise(done => {
    const frame = document.createElement('iframe');
    frame.name = 'sink';
    document.body.appendChild(frame);
    const form = document.createElement('form');
    form.method = 'POST';
    form.action = cairn + '/v1/sessions/import?agent=claude';
    form.enctype = 'text/plain';
    form.target = 'sink';
    const field = document.createElement('input');
    field.name = '{"type":"user","message":{"role":"user","content":"planted"},"x":"';
    field.value = '"}';
    form.appendChild(field);
    document.body.appendChild(form);
    frame.onload = () => done();
    form.submit();
    setTimeout(done, 3000);
  });
  try {
    await fetch(cairn + '/graphql', {method: 'POST', mode: 'no-cors',
      headers: {'content-type': 'text/plain'},
      body: JSON.stringify({query: 'mutation { delete(key: "notes/secret") { versions } }'})});
    seen.deleteSent = true;
  } catch (error) { seen.deleteSent = String(error); }
  return seen;
})
"#;

async fn attack(browser: &mut Browser, evil: u16, cairn: &str) -> anyhow::Result<Value> {
    browser
        .open(&format!("http://evil.example:{evil}/"))
        .await?;
    browser.eval(&format!("{ATTACKS}({})", json!(cairn))).await
}

/// A page of the attacker's site, on its own port.
async fn evil_site() -> anyhow::Result<u16> {
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(|| async {
            axum::response::Html("<!DOCTYPE html><title>evil</title><p>nothing to see</p>")
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(port)
}

#[tokio::test]
async fn a_page_on_another_site_cannot_change_or_read_the_store() -> anyhow::Result<()> {
    let Some(mut browser) = Browser::launch(HOSTS).await? else {
        return Ok(());
    };
    let evil = evil_site().await?;
    let server = TestServer::start().await?;
    put(&server, "notes/secret", SECRET).await?;
    let seen = attack(&mut browser, evil, &server.url()).await?;
    assert_eq!(seen["deleteSent"], true, "{seen}");
    assert!(!seen["read"].to_string().contains(SECRET), "{seen}");
    assert!(!seen["socket"].to_string().contains(SECRET), "{seen}");
    assert_eq!(
        read(&server, "notes/secret").await?.as_deref(),
        Some(SECRET)
    );
    assert_eq!(sessions(&server).await?, 0, "no session was planted");

    // The same page, allowed by the CORS list, does read and delete: the
    // attacks above are real, and only the server's refusal stopped them.
    let open = TestServer::start_with(|config| {
        config.server.cors_allowed_origins = vec![format!("http://evil.example:{evil}")];
    })
    .await?;
    put(&open, "notes/secret", SECRET).await?;
    let seen = attack(&mut browser, evil, &open.url()).await?;
    assert!(seen["read"].to_string().contains(SECRET), "{seen}");
    assert!(seen["socket"].to_string().contains(SECRET), "{seen}");
    assert_eq!(
        read(&open, "notes/secret").await?,
        None,
        "the delete went through"
    );
    Ok(())
}

#[tokio::test]
async fn a_rebinding_page_gets_nothing() -> anyhow::Result<()> {
    let Some(mut browser) = Browser::launch(HOSTS).await? else {
        return Ok(());
    };
    let server = TestServer::start().await?;
    put(&server, "notes/secret", SECRET).await?;
    // The attacker's name now resolves to the loopback server: the page and
    // its same-origin requests reach Cairn under that name.
    let page = format!("http://rebind.evil.example:{}/", port(&server));
    browser.open(&page).await?;
    let seen = browser
        .eval(
            "Promise.all(['/v1/contexts/notes/secret?view=full', '/v1/contexts', '/graphql']\
             .map(path => fetch(path).then(r => r.status + ' ' + r.statusText)\
             .then(async s => s)))",
        )
        .await?;
    assert_eq!(
        seen,
        json!(["403 Forbidden", "403 Forbidden", "403 Forbidden"])
    );
    let body = browser
        .eval("fetch('/v1/contexts/notes/secret?view=full').then(r => r.text())")
        .await?;
    assert!(!body.to_string().contains(SECRET), "{body}");
    assert!(body.to_string().contains("forbidden"), "{body}");
    Ok(())
}
