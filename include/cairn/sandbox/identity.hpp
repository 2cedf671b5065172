// Who the sandbox's processes are: the user namespace's id mapping (range mode with
// newuidmap/newgidmap and an /etc/subuid range, single-id mode otherwise), and USER
// resolved through the image's own /etc/passwd and /etc/group. Everything here but
// enter_user_namespace() is a pure function of its inputs, so it is unit-tested.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cairn::sandbox {

enum class IdMode {
  single,  // the caller's uid and gid map to 0; seccomp emulates root's id calls
  range,   // 0..65535 mapped through newuidmap/newgidmap: real chown and setuid inside
};
std::string_view to_string(IdMode mode);

// What the user asked for: cairn.toml's sandbox.userns or --userns.
enum class IdModeChoice { automatic, single, range };
std::optional<IdModeChoice> parse_id_mode_choice(std::string_view text);  // auto|single|range

// One line of /proc/PID/uid_map: ids [inside, inside + count) are [outside, ...) outside.
struct IdMapEntry {
  unsigned inside = 0;
  unsigned outside = 0;
  unsigned count = 0;
  bool operator==(const IdMapEntry&) const = default;
};

struct SubidRange {
  unsigned start = 0;
  unsigned count = 0;
  bool operator==(const SubidRange&) const = default;
};

// The first range of /etc/subuid or /etc/subgid text for `user` (matched by name or by
// numeric id, as shadow-utils does); comments and malformed lines are skipped.
std::optional<SubidRange> find_subid_range(std::string_view file_text, std::string_view user,
                                           unsigned id);

// The first 65536 subordinate ids from 100000 (useradd's SUB_UID_MIN) that no range of
// either file overlaps: what a fix suggests an administrator gives the user.
SubidRange free_subid_range(std::string_view subuid_text, std::string_view subgid_text);

// What the host offers, gathered by probe_host() (or made up by tests).
struct HostIds {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string user_name;  // empty when the uid has no passwd entry
  bool have_newuidmap = false;
  bool have_newgidmap = false;
  std::optional<SubidRange> subuid, subgid;
  SubidRange free_range{100000, 65536};  // for the fix when the user has none
};
HostIds probe_host();

struct Identity {
  IdMode mode = IdMode::single;
  uid_t host_uid = 0;
  gid_t host_gid = 0;
  std::vector<IdMapEntry> uid_map, gid_map;
  // Why the mode is what it is, for cairn doctor and the one-line fallback notice.
  std::string reason;
  bool fell_back = false;  // automatic choice wanted range mode but could not have it
};

// Decides the mapping. Range mode maps 0 to the caller and 1..65535 to the subordinate
// range (as much of it as there is). Throws Error when range mode is demanded and
// impossible, naming what is missing and the fix.
Identity choose_identity(IdModeChoice choice, const HostIds& host);

// unshare(CLONE_NEWUSER | CLONE_NEWNS) for the calling process, which must have only one
// thread, then writes the id maps (itself in single-id mode; through newuidmap/newgidmap,
// run from a helper forked beforehand, in range mode), becomes uid and gid 0 and makes
// every mount private. Throws Error naming the step and the fix (sysctls, AppArmor).
void enter_user_namespace(const Identity& identity);

// USER as docker reads it: "name", "uid", "name:group", "uid:gid" (any mix), resolved
// through the image's /etc/passwd and /etc/group texts (either may be empty when the image
// has none: numeric ids still work).
struct User {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups from /etc/group, without gid
  std::string home = "/";     // from /etc/passwd; "/" when unknown, as docker does
  std::string name;           // empty when the uid has no passwd entry
};
// Throws Error ("unable to find user app: no matching entries in passwd file").
User resolve_user(std::string_view spec, std::string_view passwd_text,
                  std::string_view group_text);

}  // namespace cairn::sandbox
