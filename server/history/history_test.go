package history

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Unix(1_800_000_000, 0) // a multiple of 60 s

func TestRecordDeltasAndBuckets(t *testing.T) {
	s := New()
	s.Record("a", t0, Totals{Rx: 100, Tx: 10}) // baseline only
	if got := s.Points("a", Hour, t0); len(got) != 0 {
		t.Fatalf("baseline made points: %v", got)
	}
	s.Record("a", t0.Add(1*time.Second), Totals{Rx: 150, Tx: 30, Conns: 2})
	s.Record("a", t0.Add(3*time.Second), Totals{Rx: 160, Tx: 30, Conns: 1}) // same 5 s bucket
	s.Record("a", t0.Add(5*time.Second), Totals{Rx: 20, Tx: 5})             // reset: counts from zero
	got := s.Points("a", Hour, t0.Add(6*time.Second))
	want := []Point{{T: t0.Unix(), Rx: 60, Tx: 20, Conns: 1}, {T: t0.Unix() + 5, Rx: 20, Tx: 5}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("hour points %v, want %v", got, want)
	}
	day := s.Points("a", Day, t0.Add(6*time.Second))
	if len(day) != 1 || day[0] != (Point{T: t0.Unix(), Rx: 80, Tx: 25}) {
		t.Fatalf("day points %v", day)
	}
	if got := s.Points("b", Hour, t0); got == nil || len(got) != 0 {
		t.Fatalf("unknown instance: %v", got)
	}
}

// The rings are bounded: two days of 1-second readings keep 720 and 1440
// buckets, the newest ones, and the window drops what is older.
func TestBounded(t *testing.T) {
	s := New()
	s.Record("a", t0, Totals{})
	var rx int64
	end := t0
	for i := 1; i <= 2*24*3600; i += 5 {
		rx += 7
		end = t0.Add(time.Duration(i) * time.Second)
		s.Record("a", end, Totals{Rx: rx})
	}
	hour, day := s.Points("a", Hour, end), s.Points("a", Day, end)
	if len(hour) != 720 || len(day) != 1440 {
		t.Fatalf("kept %d hour and %d day points, want 720 and 1440", len(hour), len(day))
	}
	if last := hour[len(hour)-1]; last.T != end.Truncate(5*time.Second).Unix() {
		t.Errorf("newest hour bucket %d, want %d", last.T, end.Truncate(5*time.Second).Unix())
	}
	for i := 1; i < len(day); i++ {
		if day[i].T-day[i-1].T != 60 {
			t.Fatalf("day buckets %d and %d not a minute apart", day[i-1].T, day[i].T)
		}
	}
	if got := s.Points("a", Hour, end.Add(2*time.Hour)); len(got) != 0 {
		t.Errorf("points older than the window returned: %d", len(got))
	}
	s.Forget("a")
	if got := s.Points("a", Day, end); len(got) != 0 {
		t.Errorf("forgotten instance has %d points", len(got))
	}
}

func TestParseWindow(t *testing.T) {
	for in, want := range map[string]Window{"": Hour, "1h": Hour, "24h": Day} {
		if w, ok := ParseWindow(in); !ok || w != want {
			t.Errorf("ParseWindow(%q) = %q, %v", in, w, ok)
		}
	}
	if _, ok := ParseWindow("7d"); ok {
		t.Error("7d accepted")
	}
	if Hour.Step() != 5*time.Second || Day.Step() != time.Minute {
		t.Error("steps")
	}
}
