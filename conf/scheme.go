package conf

// Built-in schemes. Any other scheme matching [a-z][a-z0-9_-]* names a
// protocol handler plugin.
const (
	SchemeMaster = "master" // the daemon: admin API, shared bridge
	SchemeServer = "server" // NodePass pair, server end
	SchemeClient = "client" // the agent / NodePass pair, client end
	SchemeTCP    = "tcp"    // TCP port forward through an agent
	SchemeUDP    = "udp"    // UDP port forward through an agent
	SchemeHTTP   = "http"   // HTTP + WebSocket reverse proxy through an agent
)

// builtins are the built-in schemes, in the order help lists them, with
// the class of parameters each takes.
var builtins = []struct {
	name string
	on   schemeSet
}{
	{SchemeMaster, onMaster}, {SchemeServer, onServer}, {SchemeClient, onClient},
	{SchemeTCP, onTCP}, {SchemeUDP, onUDP}, {SchemeHTTP, onHTTP},
}

// BuiltinSchemes returns the schemes Burrow implements itself (master,
// server, client, tcp, udp, http).
func BuiltinSchemes() []string {
	names := make([]string, len(builtins))
	for i, b := range builtins {
		names[i] = b.name
	}
	return names
}

// IsBuiltinScheme reports whether s is one of the schemes Burrow implements
// itself (master, server, client, tcp, udp, http). s must be lower-case.
func IsBuiltinScheme(s string) bool {
	return setOf(s) != onPlugin
}

// validSchemeName reports whether s is a lower-case identifier [a-z][a-z0-9_-]*.
func validSchemeName(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// needsAgent reports whether the scheme requires the agent= parameter.
func needsAgent(scheme string) bool {
	return scheme == SchemeTCP || scheme == SchemeUDP || scheme == SchemeHTTP
}

// needsTargets reports whether the scheme requires at least one target.
func needsTargets(scheme string) bool {
	return scheme == SchemeServer || scheme == SchemeTCP || scheme == SchemeUDP
}

// strictTargets reports whether targets must be host:port (built-in schemes);
// plugins accept any pattern without spaces.
func strictTargets(scheme string) bool {
	return IsBuiltinScheme(scheme)
}

// keyValue is one default parameter as written into Config.
type keyValue struct{ key, value string }

var (
	handlerDefaults = []keyValue{{"read", "0s"}, {"rate", "0"}, {"slot", "65536"}}
	tcpDefaults     = append(append([]keyValue(nil), handlerDefaults...), keyValue{"proxy", "0"})
	schemeDefaults  = map[string][]keyValue{
		SchemeMaster: {{"log", "info"}, {"tls", "0"}, {"data", "./data"}, {"handlers", "process"}},
		SchemeServer: {
			{"dns", "5m0s"}, {"max", "1024"}, {"mode", "0"}, {"type", "0"}, {"dial", "auto"}, {"read", "0s"},
			{"rate", "0"}, {"slot", "65536"}, {"proxy", "0"}, {"block", "0"}, {"notcp", "0"}, {"noudp", "0"},
		},
		SchemeClient: {
			{"dns", "5m0s"}, {"sni", "none"}, {"min", "64"}, {"mode", "0"}, {"dial", "auto"}, {"read", "0s"},
			{"rate", "0"}, {"slot", "65536"}, {"proxy", "0"}, {"block", "0"}, {"notcp", "0"}, {"noudp", "0"},
		},
		SchemeTCP:  tcpDefaults,
		SchemeHTTP: handlerDefaults,
		SchemeUDP:  append(append([]keyValue(nil), handlerDefaults...), keyValue{"idle", "1m0s"}),
	}
)

// configDefaults returns the parameters Config adds to a URL of this scheme
// when they are missing (plugins get the tcp set).
func configDefaults(scheme string) []keyValue {
	if d, ok := schemeDefaults[scheme]; ok {
		return d
	}
	return tcpDefaults
}
