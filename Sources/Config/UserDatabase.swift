import Glibc
// Accounts read straight from /etc/passwd and /etc/group: the release binary
// is linked statically, where glibc's getpwnam/getgrouplist (NSS) cannot be
// relied on. NIS/LDAP users are therefore not seen; containers, the target,
// keep their users in these files.


package struct UserDatabase: Sendable {
    struct Group: Sendable { var name: String; var gid: UInt32; var members: [String] }
    var users: [String: UserIdentity] = [:]
    var groups: [Group] = []

    /// Reads `root`/etc/passwd and `root`/etc/group (a missing file is empty).
    package init(root: String = "/") {
        let base = root.hasSuffix("/") ? String(root.dropLast()) : root
        let passwd = ConfigPaths.readText(base + "/etc/passwd") ?? ""
        let group = ConfigPaths.readText(base + "/etc/group") ?? ""
        self.init(passwd: passwd, group: group)
    }

    package init(passwd: String, group: String) {
        for line in group.split(separator: "\n") where !line.hasPrefix("#") {
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 3, let gid = UInt32(f[2]) else { continue }
            let members = f.count > 3 ? f[3].split(separator: ",").map { String($0).pyStripped } : []
            groups.append(Group(name: String(f[0]), gid: gid, members: members))
        }
        for line in passwd.split(separator: "\n") where !line.hasPrefix("#") {
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 6, let uid = UInt32(f[2]), let gid = UInt32(f[3]) else { continue }
            let name = String(f[0])
            if users[name] != nil { continue }  // the first entry wins, as in getpwnam
            // Supplementary groups as initgroups() would set them: the
            // primary group plus every group listing the user as a member.
            var list = [gid]
            for g in groups where g.members.contains(name) && !list.contains(g.gid) { list.append(g.gid) }
            users[name] = UserIdentity(name: name, uid: uid, gid: gid, groups: list, home: String(f[5]))
        }
    }

    /// By name, or by numeric uid as supervisord's name_to_uid also accepts.
    package func user(_ nameOrUID: String) -> UserIdentity? {
        if let u = users[nameOrUID] { return u }
        if let uid = UInt32(nameOrUID) {
            return users.values.sorted { $0.name < $1.name }.first { $0.uid == uid }
                ?? UserIdentity(name: nameOrUID, uid: uid, gid: uid, groups: [uid], home: "/")
        }
        return nil
    }

    package func user(uid: UInt32) -> UserIdentity? {
        users.values.sorted { $0.name < $1.name }.first { $0.uid == uid }
    }

    /// A group's gid, by name or number.
    package func groupID(_ nameOrGID: String) -> UInt32? {
        if let g = groups.first(where: { $0.name == nameOrGID }) { return g.gid }
        return UInt32(nameOrGID)
    }
}
