//! Users and groups from the host's /etc/passwd and /etc/group (under the
//! configured host root). Reloaded when the files change, checked at most
//! once per interval, so new users appear without a restart.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub home: String,
    pub shell: String,
}

#[derive(Debug)]
pub struct UserDb {
    passwd_path: PathBuf,
    group_path: PathBuf,
    users: HashMap<u32, User>,
    groups: HashMap<u32, String>,
    stamp: (Option<SystemTime>, Option<SystemTime>),
    checked: Option<Instant>,
    /// Bound on users and on groups (a huge or hostile passwd file must not
    /// grow the agent without limit).
    max_entries: usize,
    /// Entries not kept because of the bound (over every load).
    pub evicted: u64,
}

/// How often the files' modification times are checked.
const CHECK_INTERVAL: Duration = Duration::from_secs(5);

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn parse_passwd(text: &str) -> HashMap<u32, User> {
    let mut out = HashMap::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 {
            continue;
        }
        let Ok(uid) = f[2].parse::<u32>() else {
            continue;
        };
        out.entry(uid).or_insert_with(|| User {
            name: f[0].to_string(),
            home: f[5].to_string(),
            shell: f[6].to_string(),
        });
    }
    out
}

fn parse_group(text: &str) -> HashMap<u32, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 3 {
            continue;
        }
        if let Ok(gid) = f[2].parse::<u32>() {
            out.entry(gid).or_insert_with(|| f[0].to_string());
        }
    }
    out
}

impl UserDb {
    /// Reads `<host_root>/etc/passwd` and `<host_root>/etc/group`. Missing
    /// files give an empty database (names are then `<NA>`), not an error.
    pub fn load(host_root: &Path) -> Self {
        let mut db = UserDb {
            passwd_path: host_root.join("etc/passwd"),
            group_path: host_root.join("etc/group"),
            users: HashMap::new(),
            groups: HashMap::new(),
            stamp: (None, None),
            checked: None,
            max_entries: usize::MAX,
            evicted: 0,
        };
        db.reload();
        db
    }

    /// A database from file contents (tests, replays).
    pub fn from_text(passwd: &str, group: &str) -> Self {
        UserDb {
            passwd_path: PathBuf::new(),
            group_path: PathBuf::new(),
            users: parse_passwd(passwd),
            groups: parse_group(group),
            stamp: (None, None),
            checked: None,
            max_entries: usize::MAX,
            evicted: 0,
        }
    }

    /// Bounds users and groups to `max` entries each (the lowest ids are
    /// kept: system accounts first); applied now and at every reload.
    pub fn set_max_entries(&mut self, max: usize) {
        self.max_entries = max.max(1);
        self.trim();
    }

    fn trim(&mut self) {
        let max = self.max_entries;
        for over in [
            trim_map(&mut self.users, max),
            trim_map(&mut self.groups, max),
        ] {
            self.evicted += over;
        }
    }

    fn reload(&mut self) {
        self.users = std::fs::read_to_string(&self.passwd_path)
            .map(|t| parse_passwd(&t))
            .unwrap_or_default();
        self.groups = std::fs::read_to_string(&self.group_path)
            .map(|t| parse_group(&t))
            .unwrap_or_default();
        self.stamp = (mtime(&self.passwd_path), mtime(&self.group_path));
        self.trim();
    }

    /// Reloads if the files changed (checked at most every few seconds).
    pub fn refresh(&mut self) {
        if self.passwd_path.as_os_str().is_empty() {
            return;
        }
        let now = Instant::now();
        if self
            .checked
            .is_some_and(|t| now.duration_since(t) < CHECK_INTERVAL)
        {
            return;
        }
        self.checked = Some(now);
        if (mtime(&self.passwd_path), mtime(&self.group_path)) != self.stamp {
            self.reload();
        }
    }

    pub fn user(&self, uid: u32) -> Option<&User> {
        self.users.get(&uid)
    }

    pub fn group(&self, gid: u32) -> Option<&str> {
        self.groups.get(&gid).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// Keeps the `max` lowest ids of `m`; returns how many went.
fn trim_map<V>(m: &mut HashMap<u32, V>, max: usize) -> u64 {
    if m.len() <= max {
        return 0;
    }
    let mut ids: Vec<u32> = m.keys().copied().collect();
    ids.sort_unstable();
    let over = ids.len() - max;
    for id in &ids[max..] {
        m.remove(id);
    }
    m.shrink_to_fit();
    over as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_keeps_the_lowest_ids_and_counts_the_rest() {
        let mut db = UserDb::from_text(
            "a:x:0:0::/:/bin/sh\nb:x:1000:0::/:/bin/sh\nc:x:5:0::/:/bin/sh\n",
            "g:x:7:\n",
        );
        db.set_max_entries(2);
        assert!(db.user(0).is_some() && db.user(5).is_some());
        assert!(db.user(1000).is_none());
        assert_eq!(db.evicted, 1);
        assert_eq!(db.group(7), Some("g"));
    }

    #[test]
    fn parses_passwd_and_group() {
        let db = UserDb::from_text(
            "root:x:0:0:root:/root:/bin/bash\n# comment\nbroken\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n",
            "root:x:0:\nshadow:x:42:\n",
        );
        assert_eq!(db.user(0).unwrap().name, "root");
        assert_eq!(db.user(33).unwrap().home, "/var/www");
        assert_eq!(db.group(42), Some("shadow"));
        assert!(db.user(1000).is_none());
    }

    #[test]
    fn reloads_when_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        let passwd = dir.path().join("etc/passwd");
        std::fs::write(&passwd, "root:x:0:0::/root:/bin/sh\n").unwrap();
        let mut db = UserDb::load(dir.path());
        assert!(db.user(1001).is_none());
        std::fs::write(
            &passwd,
            "root:x:0:0::/root:/bin/sh\nalice:x:1001:1001::/home/alice:/bin/sh\n",
        )
        .unwrap();
        // Make the change visible to an mtime comparison even on coarse clocks.
        let later = SystemTime::now() + Duration::from_secs(10);
        std::fs::File::options()
            .write(true)
            .open(&passwd)
            .unwrap()
            .set_modified(later)
            .unwrap();
        db.checked = None;
        db.refresh();
        assert_eq!(db.user(1001).unwrap().name, "alice");
    }
}
