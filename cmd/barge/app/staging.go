package app

import (
	"os"

	"github.com/bargemq/barge/netpoll"
)

// newStaging makes the one spill-file budget the client and route listeners
// share, in dir (the system's temporary folder when dir is empty). Without
// max_staging it takes a quarter of the file system's free space at start;
// netpoll keeps 5% of the file system free for the streams in any case.
func (a *App) newStaging(dir string) *netpoll.Staging {
	if dir == "" {
		dir = os.TempDir()
	}
	a.stagingDir = dir
	return netpoll.NewStaging(netpoll.StagingOptions{Dir: dir, Max: a.stagingLimit(a.cfg.MaxStaging)})
}

// stagingLimit is the fixed staging budget for max_staging n: n, or for 0
// a quarter of the staging file system's free space now.
func (a *App) stagingLimit(n int64) int64 {
	if n != 0 {
		return n
	}
	free, _, err := netpoll.OSSpillFS{}.Usage(a.stagingDir)
	if err != nil {
		a.log.Warn("staging: cannot read free space; no fixed budget", "err", err)
		return 0
	}
	return max(free/4, 1)
}

// maxConnections maps max_connections to broker.Options.MaxConnections:
// nats-server reads a configured 0 as "refuse every client".
func maxConnections(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
