//! Path resolution as Falco does it (`sinsp_utils::concatenate_paths`): a
//! relative path is joined to the directory it is relative to (the working
//! directory, or the directory behind a dirfd), then `.` and `..` components
//! are removed lexically. Symlinks are not followed: Falco reports the path
//! the process named, not the file it reached.

/// Joins `path` to `base` (when relative) and normalizes the result.
pub fn resolve(base: &str, path: &str) -> String {
    if path.is_empty() {
        return normalize(base);
    }
    if path.starts_with('/') {
        return normalize(path);
    }
    let mut joined = String::with_capacity(base.len() + path.len() + 1);
    joined.push_str(base);
    if !base.ends_with('/') {
        joined.push('/');
    }
    joined.push_str(path);
    normalize(&joined)
}

/// Removes empty, `.` and `..` components of an absolute path. A path that is
/// not absolute (e.g. `memfd:x`, `pipe:[12]`) is returned unchanged.
pub fn normalize(path: &str) -> String {
    if !path.starts_with('/') {
        return path.to_string();
    }
    if !needs_normalizing(path) {
        return path.to_string();
    }
    let mut parts: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = String::with_capacity(path.len());
    for p in &parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// One pass over the bytes: is there an empty, `.` or `..` component, or a
/// trailing slash? (Most paths are already clean; this is the hot case.)
fn needs_normalizing(path: &str) -> bool {
    let b = path.as_bytes();
    if b.len() > 1 && b[b.len() - 1] == b'/' {
        return true;
    }
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' {
            // The component starting at i + 1.
            match (b.get(i + 1), b.get(i + 2), b.get(i + 3)) {
                (Some(b'/'), _, _) => return true,
                (Some(b'.'), None | Some(b'/'), _) => return true,
                (Some(b'.'), Some(b'.'), None | Some(b'/')) => return true,
                _ => {}
            }
        }
        i += 1;
    }
    false
}

/// Falco's `fd.directory`: the path up to its last `/` (`/` for top-level names).
pub fn directory(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "",
    }
}

/// Falco's `fd.filename`: the last component.
pub fn filename(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_join_the_base_and_collapse_dots() {
        assert_eq!(resolve("/home/u", "a/b"), "/home/u/a/b");
        assert_eq!(resolve("/home/u", "../../etc/shadow"), "/etc/shadow");
        assert_eq!(
            resolve("/var/www/html", "../../../../../etc/passwd"),
            "/etc/passwd"
        );
        assert_eq!(resolve("/", "etc/./passwd"), "/etc/passwd");
        assert_eq!(resolve("/tmp", "/etc//shadow"), "/etc/shadow");
        assert_eq!(resolve("/tmp/", "x"), "/tmp/x");
        assert_eq!(resolve("/tmp", ""), "/tmp");
        assert_eq!(normalize("/a/b/.."), "/a");
        assert_eq!(normalize("/.."), "/");
        assert_eq!(normalize("memfd:x"), "memfd:x");
        assert_eq!(normalize("/a/.hidden/..x/b"), "/a/.hidden/..x/b");
        assert_eq!(normalize("/a/b/."), "/a/b");
        assert_eq!(normalize("/a//b"), "/a/b");
        assert!(!needs_normalizing("/etc/ld.so.cache"));
        assert!(needs_normalizing("/etc/../x"));
    }

    #[test]
    fn directory_and_filename() {
        assert_eq!(directory("/etc/pam.d/sshd"), "/etc/pam.d");
        assert_eq!(filename("/etc/pam.d/sshd"), "sshd");
        assert_eq!(directory("/etc"), "/");
        assert_eq!(filename("/etc"), "etc");
        assert_eq!(directory("x"), "");
    }
}
