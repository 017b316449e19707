package gitstate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

// RemoteName is the name the state repository's remote is recorded
// under in .git/config; its tracking branch is refs/remotes/origin/BRANCH.
const RemoteName = "origin"

// RejectedPrefix is where [Repo.Pull] and [Repo.Push] keep local commits
// the remote refused because another runner changed the same
// directories meanwhile: refs/mailtwin/rejected/<time>-<short hash>.
const RejectedPrefix = "refs/mailtwin/rejected/"

// DefaultPushTries is how often [Repo.Push] pushes, rebasing in between,
// before it gives up on a remote that keeps moving.
const DefaultPushTries = 5

// TokenUsername is the user name sent with a token over HTTPS. GitHub,
// GitLab and Gitea accept a token as the password with any user name.
const TokenUsername = "x-access-token"

// Remote says where the remote of a state repository is and how to
// reach it. Its credentials are used for the network only: they are
// never written to .git/config or into an error.
type Remote struct {
	// URL is an ssh://, scp-like (user@host:path), https://, http://,
	// file:// URL or a local path. It must not hold a password or token.
	URL string
	// Branch is the remote branch the state lives on; empty means
	// Branch ("main"). The local branch is whatever HEAD is on.
	Branch string
	// SSHKeyFile is the private key for an ssh remote; empty means the
	// keys of ssh-agent (SSH_AUTH_SOCK).
	SSHKeyFile string
	// SSHKnownHosts is the known_hosts file the ssh server's host key is
	// checked against; empty means $SSH_KNOWN_HOSTS, else
	// ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts.
	SSHKnownHosts string
	// Token is sent as the password of HTTP basic auth (user
	// TokenUsername) to an https or http remote; empty means none.
	Token string
	// PushTries bounds [Repo.Push]; zero means DefaultPushTries.
	PushTries int
}

func (o Remote) branch() string {
	if o.Branch == "" {
		return Branch
	}
	return o.Branch
}

func (o Remote) trackingRef() plumbing.ReferenceName {
	return plumbing.NewRemoteReferenceName(RemoteName, o.branch())
}

// auth returns the transport credentials of o for its URL's protocol.
func (o Remote) auth() (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(o.URL)
	if err != nil {
		return nil, fmt.Errorf("remote URL %s: not a URL", redact(o.URL)) // the parse error repeats the URL whole
	}
	if ep.Password != "" {
		return nil, errors.New("remote URL: must not hold a password or token; use a token from the environment")
	}
	switch ep.Protocol {
	case "ssh":
		user := ep.User
		if user == "" {
			user = "git"
		}
		var auth transport.AuthMethod
		var helper *gitssh.HostKeyCallbackHelper
		if o.SSHKeyFile != "" {
			k, err := gitssh.NewPublicKeysFromFile(user, o.SSHKeyFile, "")
			if err != nil {
				return nil, fmt.Errorf("ssh key %s: %w", o.SSHKeyFile, err)
			}
			auth, helper = k, &k.HostKeyCallbackHelper
		} else {
			a, err := gitssh.NewSSHAgentAuth(user)
			if err != nil {
				return nil, fmt.Errorf("ssh-agent: %w", err)
			}
			auth, helper = a, &a.HostKeyCallbackHelper
		}
		if err := o.hostKeyCheck(helper, ep); err != nil {
			return nil, err
		}
		return auth, nil
	case "http", "https":
		if o.Token == "" {
			return nil, nil
		}
		return &githttp.BasicAuth{Username: TokenUsername, Password: o.Token}, nil
	}
	return nil, nil
}

// hostKeyCheck sets helper to check the server's host key against
// o.SSHKnownHosts, or the default known_hosts files when it is empty,
// and to ask the server for a host key of a type those files hold for
// its address. Without the latter the ssh library asks for its own
// first choice (ecdsa), and a server that has several host keys, as
// most do, answers with one the file lacks: "key mismatch" although
// the file holds the server's ed25519 key. go-git sets the types only
// when it makes the callback itself, which it does not for key-file or
// ssh-agent auth.
func (o Remote) hostKeyCheck(helper *gitssh.HostKeyCallbackHelper, ep *transport.Endpoint) error {
	var files []string
	where := "the default known_hosts files"
	if o.SSHKnownHosts != "" {
		files, where = []string{o.SSHKnownHosts}, o.SSHKnownHosts
	}
	db, err := gitssh.NewKnownHostsDb(files...)
	if err != nil {
		return fmt.Errorf("ssh known_hosts %s: %w", where, err)
	}
	port := ep.Port
	if port <= 0 {
		port = gitssh.DefaultPort
	}
	check := db.HostKeyCallback()
	helper.HostKeyCallback = func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		if err := check(hostname, remote, key); err != nil {
			return fmt.Errorf("host key of %s checked against %s: %w", hostname, where, err)
		}
		return nil
	}
	helper.HostKeyAlgorithms = db.HostKeyAlgorithms(net.JoinHostPort(ep.Host, strconv.Itoa(port)))
	return nil
}

// ConflictError is returned by [Repo.Pull] and [Repo.Push] when the
// remote branch gained commits that changed a top-level directory that
// local, unpushed commits changed too. The local branch has been reset
// to the remote's commit, and the local commits are kept on Ref.
type ConflictError struct {
	// Dirs are the top-level directories both sides changed, sorted.
	Dirs []string
	// Remote is the remote's commit (full hash) and RemoteCommit the
	// newest commit on the remote that changed one of Dirs.
	Remote, RemoteCommit string
	// URL and Branch name the remote.
	URL, Branch string
	// Ref holds the rejected local commits; Local is its full hash.
	Ref, Local string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("remote %s branch %s: commit %s changed %s, which unpushed local commits changed too; the local commits are kept as %s and the local branch now follows the remote",
		e.URL, e.Branch, e.RemoteCommit[:ShortLen], strings.Join(e.Dirs, ", "), e.Ref)
}

// Is makes errors.Is(err, ErrConflict) true for a *ConflictError.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// ErrConflict is matched by every *ConflictError.
var ErrConflict = errors.New("remote changed the same directories")

// SyncResult says what [Repo.Pull] or [Repo.Push] did.
type SyncResult struct {
	// Action is one of "up to date", "ahead" (local commits to push),
	// "fast-forward", "rebased" (local commits replayed onto the
	// remote's), "pushed" or "remote empty".
	Action string
	// Head is the local branch's commit afterwards, empty if none.
	Head string
	// Rebased counts the local commits replayed onto the remote's.
	Rebased int
	// Tries is how many pushes Push made.
	Tries int
}

// Pull fetches the remote branch and brings the local branch up to it:
// a fast-forward when the local branch has no commits of its own;
// nothing when the local branch is ahead (Push sends them); a rebase
// when both moved and the remote's new commits changed only top-level
// directories the local commits did not: each local commit is replayed,
// same message and author, as a new commit whose tree is the remote's
// with that commit's directories taken over. When the remote's commits
// changed a directory the local commits changed too, Pull returns a
// *ConflictError after keeping the local commits on a ref under
// RejectedPrefix and resetting the local branch to the remote's.
//
// The index and the worktree follow the local branch. The caller holds
// the run lock, and nothing is staged: a reset drops it.
func (r *Repo) Pull(ctx context.Context, o Remote) (SyncResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res, err := r.pull(ctx, o)
	if err != nil {
		return res, fmt.Errorf("pull state repo %s from %s: %w", r.dir, redact(o.URL), err)
	}
	return res, nil
}

func (r *Repo) pull(ctx context.Context, o Remote) (SyncResult, error) {
	rem, auth, err := r.remote(o)
	if err != nil {
		return SyncResult{}, err
	}
	remote, err := r.fetch(ctx, rem, auth, o)
	if err != nil {
		return SyncResult{}, err
	}
	return r.integrate(ctx, o, remote)
}

// Push sends the local branch to the remote branch. When the remote
// refuses because it moved meanwhile, Push fetches, rebases as
// [Repo.Pull] does and pushes again, up to o.PushTries times. A push
// that fails otherwise (the network, credentials) leaves the local
// commits as they are: the next run's Pull finds the local branch ahead
// and its Push sends them.
func (r *Repo) Push(ctx context.Context, o Remote) (SyncResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res, err := r.push(ctx, o, true)
	if err != nil {
		return res, fmt.Errorf("push state repo %s to %s: %w", r.dir, redact(o.URL), err)
	}
	return res, nil
}

// TryPush pushes the local branch once, without fetching or rebasing:
// for a checkpoint in the middle of a run, which must not move the
// branch under the pairs still running. A refused push is an error and
// changes nothing locally.
func (r *Repo) TryPush(ctx context.Context, o Remote) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.push(ctx, o, false); err != nil {
		return fmt.Errorf("push state repo %s to %s: %w", r.dir, redact(o.URL), err)
	}
	return nil
}

func (r *Repo) push(ctx context.Context, o Remote, retry bool) (SyncResult, error) {
	rem, auth, err := r.remote(o)
	if err != nil {
		return SyncResult{}, err
	}
	tries := o.PushTries
	if tries <= 0 {
		tries = DefaultPushTries
	}
	res := SyncResult{}
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		branch, local, err := r.localBranch()
		if err != nil {
			return res, err
		}
		res.Head = hashString(local)
		if local.IsZero() {
			res.Action = "up to date"
			return res, nil
		}
		res.Tries++
		spec := config.RefSpec(branch.String() + ":" + plumbing.NewBranchReferenceName(o.branch()).String())
		perr := rem.PushContext(ctx, &git.PushOptions{RemoteName: RemoteName, RefSpecs: []config.RefSpec{spec}, Auth: auth})
		if perr == nil || errors.Is(perr, git.NoErrAlreadyUpToDate) {
			if err := r.git.Storer.SetReference(plumbing.NewHashReference(o.trackingRef(), local)); err != nil {
				return res, fmt.Errorf("update %s: %w", o.trackingRef(), err)
			}
			switch {
			case res.Action != "":
			case perr != nil:
				res.Action = "up to date"
			default:
				res.Action = "pushed"
			}
			return res, nil
		}
		if !retry {
			return res, perr
		}
		// Refused because the remote moved, or failed for another
		// reason: fetch to tell which.
		remote, ferr := r.fetch(ctx, rem, auth, o)
		if ferr != nil {
			return res, fmt.Errorf("%w (then %v)", perr, ferr)
		}
		_, _, theirs, err := r.divergence(ctx, local, remote)
		if err != nil {
			return res, err
		}
		if remote == local { // it landed; only the answer was lost
			res.Action = "pushed"
			return res, nil
		}
		if remote.IsZero() || len(theirs) == 0 { // the remote has not moved: not a rejection
			return res, perr
		}
		if res.Tries >= tries {
			return res, fmt.Errorf("gave up after %d pushes: the remote branch %s kept moving: %w", res.Tries, o.branch(), perr)
		}
		ir, err := r.integrate(ctx, o, remote)
		res.Rebased += ir.Rebased
		if err != nil {
			return res, err
		}
		res.Action = "rebased and pushed"
	}
}

// redact hides the password of a URL that has one, as url.URL.Redacted
// does; other URLs, scp-like ones and paths, are returned as they are.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); !ok {
		return s
	}
	return u.Redacted()
}

func hashString(h plumbing.Hash) string {
	if h.IsZero() {
		return ""
	}
	return h.String()
}

// remote records o's URL and fetch refspec as RemoteName in .git/config
// (never a credential) and returns the remote and o's credentials.
func (r *Repo) remote(o Remote) (*git.Remote, transport.AuthMethod, error) {
	auth, err := o.auth()
	if err != nil {
		return nil, nil, err
	}
	rc := &config.RemoteConfig{
		Name:  RemoteName,
		URLs:  []string{o.URL},
		Fetch: []config.RefSpec{config.RefSpec("+" + plumbing.NewBranchReferenceName(o.branch()).String() + ":" + o.trackingRef().String())},
	}
	cfg, err := r.git.Config()
	if err != nil {
		return nil, nil, fmt.Errorf("read .git/config: %w", err)
	}
	if old := cfg.Remotes[RemoteName]; old == nil || !slices.Equal(old.URLs, rc.URLs) || !slices.Equal(old.Fetch, rc.Fetch) {
		if err := rc.Validate(); err != nil {
			return nil, nil, fmt.Errorf("remote %s: %w", redact(o.URL), err)
		}
		cfg.Remotes[RemoteName] = rc
		if err := r.git.SetConfig(cfg); err != nil {
			return nil, nil, fmt.Errorf("write .git/config: %w", err)
		}
	}
	rem, err := r.git.Remote(RemoteName)
	if err != nil {
		return nil, nil, fmt.Errorf("remote %s: %w", redact(o.URL), err)
	}
	return rem, auth, nil
}

// fetch fetches the remote branch into its tracking ref and returns its
// commit, zero when the remote has no such branch (or nothing at all).
func (r *Repo) fetch(ctx context.Context, rem *git.Remote, auth transport.AuthMethod, o Remote) (plumbing.Hash, error) {
	spec := config.RefSpec("+" + plumbing.NewBranchReferenceName(o.branch()).String() + ":" + o.trackingRef().String())
	err := rem.FetchContext(ctx, &git.FetchOptions{RemoteName: RemoteName, RefSpecs: []config.RefSpec{spec}, Auth: auth, Tags: git.NoTags})
	switch {
	case errors.Is(err, transport.ErrEmptyRemoteRepository), errors.Is(err, git.NoMatchingRefSpecError{}):
		return plumbing.ZeroHash, nil
	case err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate):
		return plumbing.ZeroHash, fmt.Errorf("fetch: %w", err)
	}
	ref, err := r.git.Storer.Reference(o.trackingRef())
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("fetch: read %s: %w", o.trackingRef(), err)
	}
	return ref.Hash(), nil
}

// localBranch returns the branch HEAD is on and its commit (zero when
// it has none yet).
func (r *Repo) localBranch() (plumbing.ReferenceName, plumbing.Hash, error) {
	head, err := r.git.Storer.Reference(plumbing.HEAD)
	if err != nil {
		return "", plumbing.ZeroHash, fmt.Errorf("read HEAD: %w", err)
	}
	if head.Type() != plumbing.SymbolicReference {
		return "", plumbing.ZeroHash, errors.New("HEAD is detached: check out a branch")
	}
	ref, err := r.git.Storer.Reference(head.Target())
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return head.Target(), plumbing.ZeroHash, nil
	}
	if err != nil {
		return "", plumbing.ZeroHash, fmt.Errorf("read %s: %w", head.Target(), err)
	}
	return head.Target(), ref.Hash(), nil
}

// integrate brings the local branch up to the remote commit remote (see
// Pull).
func (r *Repo) integrate(ctx context.Context, o Remote, remote plumbing.Hash) (SyncResult, error) {
	branch, local, err := r.localBranch()
	if err != nil {
		return SyncResult{}, err
	}
	res := SyncResult{Head: hashString(local)}
	switch {
	case remote.IsZero():
		res.Action = "remote empty"
		return res, nil
	case remote == local:
		res.Action = "up to date"
		return res, nil
	}
	if local.IsZero() {
		if err := r.moveBranch(branch, local, remote); err != nil {
			return res, err
		}
		res.Action, res.Head = "fast-forward", remote.String()
		return res, nil
	}
	_, mine, theirs, err := r.divergence(ctx, local, remote)
	if err != nil {
		return res, err
	}
	switch {
	case len(theirs) == 0:
		res.Action = "ahead"
		return res, nil
	case len(mine) == 0:
		if err := r.moveBranch(branch, local, remote); err != nil {
			return res, err
		}
		res.Action, res.Head = "fast-forward", remote.String()
		return res, nil
	}

	// Diverged: replay the local commits since the merge base onto the
	// remote, if they touched other directories than the remote's.
	rc, err := r.git.CommitObject(remote)
	if err != nil {
		return res, fmt.Errorf("read commit %s: %w", remote, err)
	}
	touched := map[string]bool{}
	for _, c := range mine {
		dirs, err := r.changedDirs(c)
		if err != nil {
			return res, err
		}
		for _, d := range dirs {
			touched[d] = true
		}
	}
	var clash []string
	var clashCommit plumbing.Hash
	for _, c := range slices.Backward(theirs) { // newest first
		dirs, err := r.changedDirs(c)
		if err != nil {
			return res, err
		}
		for _, d := range dirs {
			if touched[d] && !slices.Contains(clash, d) {
				clash = append(clash, d)
				if clashCommit.IsZero() {
					clashCommit = c.Hash
				}
			}
		}
	}
	if len(clash) > 0 {
		slices.Sort(clash)
		ref := plumbing.ReferenceName(RejectedPrefix + r.now().UTC().Format("20060102T150405Z") + "-" + local.String()[:ShortLen])
		if err := r.git.Storer.SetReference(plumbing.NewHashReference(ref, local)); err != nil {
			return res, fmt.Errorf("keep rejected commits as %s: %w", ref, err)
		}
		if err := r.moveBranch(branch, local, remote); err != nil {
			return res, err
		}
		return res, &ConflictError{
			Dirs: clash, Remote: remote.String(), RemoteCommit: clashCommit.String(),
			URL: redact(o.URL), Branch: o.branch(), Ref: ref.String(), Local: local.String(),
		}
	}
	head := rc
	for _, c := range mine {
		if head, err = r.replay(c, head); err != nil {
			return res, err
		}
	}
	if err := r.moveBranch(branch, local, head.Hash); err != nil {
		return res, err
	}
	res.Action, res.Head, res.Rebased = "rebased", head.Hash.String(), len(mine)
	return res, nil
}

// divergence walks the first-parent chains of local and remote back in
// step to the first commit both reach: on mailtwin's histories, which
// have no merges, their merge base. It returns the base (zero when they
// share no commit) and each side's commits after it, oldest first. Its
// cost grows with the distance to the base, not with the history.
func (r *Repo) divergence(ctx context.Context, local, remote plumbing.Hash) (base plumbing.Hash, mine, theirs []*object.Commit, err error) {
	seen := [2]map[plumbing.Hash]int{{}, {}}
	var chain [2][]*object.Commit
	cur := [2]plumbing.Hash{local, remote}
	for !cur[0].IsZero() || !cur[1].IsZero() {
		if err := ctx.Err(); err != nil {
			return base, nil, nil, err
		}
		for side := range 2 {
			h := cur[side]
			if h.IsZero() {
				continue
			}
			if i, ok := seen[1-side][h]; ok {
				chain[1-side] = chain[1-side][:i]
				slices.Reverse(chain[0])
				slices.Reverse(chain[1])
				return h, chain[0], chain[1], nil
			}
			c, err := r.git.CommitObject(h)
			if err != nil {
				return base, nil, nil, fmt.Errorf("read commit %s: %w", h, err)
			}
			seen[side][h] = len(chain[side])
			chain[side] = append(chain[side], c)
			cur[side] = plumbing.ZeroHash
			if c.NumParents() > 0 {
				cur[side] = c.ParentHashes[0]
			}
		}
	}
	slices.Reverse(chain[0])
	slices.Reverse(chain[1])
	return plumbing.ZeroHash, chain[0], chain[1], nil
}

// topEntries returns the root tree entries of commit c (none for nil).
func (r *Repo) topEntries(c *object.Commit) (map[string]object.TreeEntry, error) {
	out := map[string]object.TreeEntry{}
	if c == nil {
		return out, nil
	}
	t, err := r.git.TreeObject(c.TreeHash)
	if err != nil {
		return nil, fmt.Errorf("read tree of %s: %w", c.Hash, err)
	}
	for _, e := range t.Entries {
		out[e.Name] = e
	}
	return out, nil
}

// topEntriesAround returns the top-level entries of c's first parent
// (none for a root commit) and of c.
func (r *Repo) topEntriesAround(c *object.Commit) (before, after map[string]object.TreeEntry, err error) {
	var parent *object.Commit
	if c.NumParents() > 0 {
		if parent, err = c.Parent(0); err != nil {
			return nil, nil, fmt.Errorf("read parent of %s: %w", c.Hash, err)
		}
	}
	if before, err = r.topEntries(parent); err != nil {
		return nil, nil, err
	}
	if after, err = r.topEntries(c); err != nil {
		return nil, nil, err
	}
	return before, after, nil
}

// changedDirs returns the top-level names whose entry commit c changed
// relative to its first parent.
func (r *Repo) changedDirs(c *object.Commit) ([]string, error) {
	before, after, err := r.topEntriesAround(c)
	if err != nil {
		return nil, err
	}
	var out []string
	for n, e := range after {
		if b, ok := before[n]; !ok || b.Hash != e.Hash || b.Mode != e.Mode {
			out = append(out, n)
		}
	}
	for n := range before {
		if _, ok := after[n]; !ok {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// replay writes a commit on onto whose tree is onto's with the
// top-level entries c changed taken from c, with c's message and
// author; the committer is mailtwin, now.
func (r *Repo) replay(c, onto *object.Commit) (*object.Commit, error) {
	before, after, err := r.topEntriesAround(c)
	if err != nil {
		return nil, err
	}
	tree, err := r.topEntries(onto)
	if err != nil {
		return nil, err
	}
	for n, e := range after {
		if b, ok := before[n]; !ok || b.Hash != e.Hash || b.Mode != e.Mode {
			tree[n] = e
		}
	}
	for n := range before {
		if _, ok := after[n]; !ok {
			delete(tree, n)
		}
	}
	t := &object.Tree{}
	for _, e := range tree {
		t.Entries = append(t.Entries, e)
	}
	slices.SortFunc(t.Entries, func(a, b object.TreeEntry) int {
		return strings.Compare(sortName(a), sortName(b))
	})
	th, err := r.store(t)
	if err != nil {
		return nil, fmt.Errorf("write tree: %w", err)
	}
	nc := &object.Commit{
		Author:       c.Author,
		Committer:    r.signature(),
		Message:      c.Message,
		TreeHash:     th,
		ParentHashes: []plumbing.Hash{onto.Hash},
	}
	h, err := r.store(nc)
	if err != nil {
		return nil, fmt.Errorf("write commit: %w", err)
	}
	return r.git.CommitObject(h)
}

// sortName is the name git sorts a tree entry by: a directory as if it
// ended in "/".
func sortName(e object.TreeEntry) string {
	if e.Mode.IsFile() {
		return e.Name
	}
	return e.Name + "/"
}

func (r *Repo) store(o interface {
	Encode(plumbing.EncodedObject) error
}) (plumbing.Hash, error) {
	obj := r.git.Storer.NewEncodedObject()
	if err := o.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return r.git.Storer.SetEncodedObject(obj)
}

// moveBranch sets branch from old to h (compare and swap) and makes the
// index and the worktree equal h's tree.
func (r *Repo) moveBranch(branch plumbing.ReferenceName, old, h plumbing.Hash) error {
	ref := plumbing.NewHashReference(branch, h)
	var err error
	if old.IsZero() {
		err = r.git.Storer.SetReference(ref)
	} else {
		err = r.git.Storer.CheckAndSetReference(ref, plumbing.NewHashReference(branch, old))
	}
	if err != nil {
		return fmt.Errorf("move %s to %s: %w", branch.Short(), h, err)
	}
	if err := r.wt.Reset(&git.ResetOptions{Commit: h, Mode: git.HardReset}); err != nil {
		return fmt.Errorf("reset worktree to %s: %w", h, err)
	}
	return nil
}
