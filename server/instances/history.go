package instances

import (
	"time"

	"github.com/burrowproject/burrow/server/history"
)

// History returns the traffic of instance id in window w, oldest bucket
// first: one bucket per report interval at most, taken by the report loop
// while the instance runs, kept in memory only (see package history).
func (m *Manager) History(id string, w history.Window) ([]history.Point, error) {
	if id == KeyID || !m.Exists(id) {
		return nil, errNotFound
	}
	return m.history.Points(id, w, time.Now()), nil
}
