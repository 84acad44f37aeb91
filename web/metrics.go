package web

import (
	"strings"
	"sync/atomic"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/burrowproject/burrow/server/instances"
)

// metricsPath is where the Prometheus endpoint is served (outside the API
// root, where scrapers expect it; protected by the API key like the API).
const metricsPath = "/metrics"

// Metrics is the master's Prometheus registry (a value, not the global
// default). Build it in main, hand LinkError to the bridge, and pass it to
// the master; instance and agent figures are read at scrape time.
type Metrics struct {
	reg           *prometheus.Registry
	linkErrors    *prometheus.CounterVec
	bridgeRefused *prometheus.CounterVec
	udpDropped    *prometheus.CounterVec
	handlerCounts *prometheus.CounterVec
	quieted       prometheus.Counter
	src           atomic.Pointer[metricSources]
}

type metricSources struct {
	m      *instances.Manager
	agents AgentLister
}

// NewMetrics returns a registry with the Go and process collectors, link
// errors by reason, and the instance and agent figures.
func NewMetrics() *Metrics {
	mt := &Metrics{
		reg: prometheus.NewRegistry(),
		linkErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "burrow_link_errors_total",
			Help: "Links (user connections through an agent) that failed, by reason.",
		}, []string{"reason"}),
		bridgeRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "burrow_bridge_refused_total",
			Help: "Connections to a bridge refused before they authenticated, by reason (busy, source_busy, backoff, failed).",
		}, []string{"reason"}),
		udpDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "burrow_udp_dropped_total",
			Help: "Datagrams a udp entry dropped, by reason (session_limit, source_limit, queue_full, no_link).",
		}, []string{"reason"}),
		handlerCounts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "burrow_handler_counts_total",
			Help: "Events handlers counted about their instances (sdk.Counter), by name.",
		}, []string{"name"}),
		quieted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "burrow_link_logs_suppressed_total",
			Help: "Failed-link warnings not logged (nor sent as SSE log events) because an instance exceeded linklog= per 10 s.",
		}),
	}
	mt.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		mt.linkErrors, mt.bridgeRefused, mt.udpDropped, mt.handlerCounts, mt.quieted,
		&stateCollector{mt: mt},
	)
	return mt
}

// LinkError counts one failed link. reason should be a short, bounded
// identifier ("dial_refused", "no_agent", "timeout", ...).
func (mt *Metrics) LinkError(reason string) { mt.linkErrors.WithLabelValues(reason).Inc() }

// BridgeRefused counts one connection a bridge refused before it
// authenticated; reason is one of the bridge.Refused constants.
func (mt *Metrics) BridgeRefused(reason string) { mt.bridgeRefused.WithLabelValues(reason).Inc() }

// HandlerCount counts what a handler reported about an instance
// (sdk.Counter): "udp_dropped:REASON" (udp.DroppedCounter) feeds
// burrow_udp_dropped_total{reason}; any other name
// burrow_handler_counts_total{name}.
func (mt *Metrics) HandlerCount(name string, n uint64) {
	if reason, ok := strings.CutPrefix(name, "udp_dropped:"); ok {
		mt.udpDropped.WithLabelValues(reason).Add(float64(n))
		return
	}
	mt.handlerCounts.WithLabelValues(name).Add(float64(n))
}

// LogSuppressed counts n failed-link warnings an instance held back.
func (mt *Metrics) LogSuppressed(n int) { mt.quieted.Add(float64(n)) }

// Registry returns the registry, for callers that add their own collectors.
func (mt *Metrics) Registry() *prometheus.Registry { return mt.reg }

func (mt *Metrics) bind(m *instances.Manager, agents AgentLister) {
	mt.src.Store(&metricSources{m: m, agents: agents})
}

func (mt *Metrics) handler() gin.HandlerFunc {
	h := promhttp.HandlerFor(mt.reg, promhttp.HandlerOpts{})
	return gin.WrapH(h)
}

var (
	descInstances = prometheus.NewDesc("burrow_instances", "Instances by status.", []string{"status"}, nil)
	descBytes     = prometheus.NewDesc("burrow_instance_bytes_total",
		"Bytes carried by an instance since creation or reset, by direction.", []string{"id", "type", "direction"}, nil)
	descConns = prometheus.NewDesc("burrow_instance_connections",
		"Active connections (tcp) or sessions (udp) of an instance.", []string{"id", "type", "proto"}, nil)
	descAgents = prometheus.NewDesc("burrow_agents_online", "Connected agent sessions.", nil, nil)
)

// stateCollector reads the manager and the agent lister at scrape time.
type stateCollector struct{ mt *Metrics }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descInstances
	ch <- descBytes
	ch <- descConns
	ch <- descAgents
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.mt.src.Load()
	if src == nil {
		return
	}
	byStatus := map[instances.Status]int{instances.StatusRunning: 0, instances.StatusStopped: 0, instances.StatusError: 0}
	for _, v := range src.m.List() {
		if v.ID == instances.KeyID {
			continue
		}
		byStatus[v.Status]++
		for dir, n := range map[string]int64{"tcp_rx": v.TCPRx, "tcp_tx": v.TCPTx, "udp_rx": v.UDPRx, "udp_tx": v.UDPTx} {
			ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(n), v.ID, v.Type, dir)
		}
		ch <- prometheus.MustNewConstMetric(descConns, prometheus.GaugeValue, float64(v.TCPs), v.ID, v.Type, "tcp")
		ch <- prometheus.MustNewConstMetric(descConns, prometheus.GaugeValue, float64(v.UDPs), v.ID, v.Type, "udp")
	}
	for st, n := range byStatus {
		ch <- prometheus.MustNewConstMetric(descInstances, prometheus.GaugeValue, float64(n), string(st))
	}
	agents := 0
	if src.agents != nil {
		agents = len(src.agents.Agents())
	}
	ch <- prometheus.MustNewConstMetric(descAgents, prometheus.GaugeValue, float64(agents))
}
