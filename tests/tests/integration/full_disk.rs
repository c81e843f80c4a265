//! A full disk: the data directory on a small tmpfs, filled by puts of
//! incompressible bytes until the store refuses. Writes fail with
//! `507 storage_full` and a clear message; every put acknowledged before
//! stays readable byte for byte; reads go on; a delete is refused the same
//! way or works, never worse; and once the operator frees room, the same
//! server takes writes again (the writer replaces the connection that
//! SQLite's automatic rollback left unusable).
//!
//! Mounting needs root, which this project's CI has; anywhere else the test
//! says loudly that it cannot run (`cairn_core::skip`), and under `CI=true`
//! fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use cairn_client::ClientError;
use cairn_tests::TestServer;
use cairn_types::ErrorCode;

/// A tmpfs mounted for the test's lifetime.
struct Tmpfs {
    path: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    /// A tmpfs of `megabytes`, or `None` (said loudly; a failure under
    /// `CI=true`) where it cannot be mounted: mounting needs root.
    fn mount(megabytes: u32) -> Option<Tmpfs> {
        let parent = tempfile::tempdir().expect("a temporary directory");
        let path = parent.path().join("data");
        std::fs::create_dir(&path).expect("the mount point");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(&path)
            .output()
            .expect("mount runs");
        if !mounted.status.success() {
            cairn_core::skip::cannot_run(
                "the full-disk test",
                &format!(
                    "it mounts a small tmpfs as a full disk, which needs root: {}",
                    String::from_utf8_lossy(&mounted.stderr).trim()
                ),
            );
            return None;
        }
        Some(Tmpfs {
            path,
            _parent: parent,
        })
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Bytes zstd cannot shrink, different for every `seed`.
fn incompressible(seed: u64, length: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

#[tokio::test]
async fn a_full_disk_refuses_writes_clearly_and_damages_nothing() -> anyhow::Result<()> {
    let Some(disk) = Tmpfs::mount(24) else {
        return Ok(());
    };
    let data_dir = disk.path().to_path_buf();
    // Something else on the disk, which the operator will delete.
    let ballast = disk.path().join("ballast");
    std::fs::write(&ballast, vec![0u8; 4 * 1024 * 1024])?;
    let server = TestServer::start_with(|config| config.storage.data_dir = data_dir).await?;
    let client = server.client();

    let mut stored = Vec::new();
    let refusal = loop {
        let index = stored.len() as u64;
        let content = incompressible(index, 256 * 1024);
        match client.put(&format!("fill/{index}"), content.clone()).await {
            Ok(_) => stored.push(content),
            Err(error) => break error,
        }
        assert!(index < 400, "a 24 MB disk took 100 MB");
    };
    match &refusal {
        ClientError::Api { code, message, .. } => {
            assert_eq!(*code, ErrorCode::StorageFull, "{message}");
            assert!(message.contains("full"), "{message}");
        }
        other => panic!("expected storage_full, got {other}"),
    }
    assert!(stored.len() >= 10, "only {} puts fitted", stored.len());

    // Every acknowledged put reads back exactly; reads go on.
    for (index, content) in stored.iter().enumerate() {
        let read = client.get_full(&format!("fill/{index}")).await?;
        assert_eq!(&read[..], &content[..], "fill/{index}");
    }
    assert_eq!(client.stats().await?.contexts, stored.len() as u64);

    // A delete needs room too: it may be refused the same way, never worse.
    match client.delete("fill/0").await {
        Ok(_) => {}
        Err(ClientError::Api { code, .. }) => assert_eq!(code, ErrorCode::StorageFull),
        Err(other) => panic!("a delete on a full disk: {other}"),
    }
    // Once the operator frees room, writes work again, on the same server.
    std::fs::remove_file(&ballast)?;
    server
        .client()
        .put("after/free", b"small again".to_vec())
        .await?;
    let read = server.client().get_full("after/free").await?;
    assert_eq!(&read[..], b"small again");
    server.stop().await
}
