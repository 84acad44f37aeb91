package web

import (
	"encoding/json"
	"maps"
	"net/http"

	"github.com/gin-gonic/gin"
)

// The OpenAPI document is built as Go data from the same constants the
// handlers use, and a test checks it against the registered routes.

type obj = map[string]any

func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }

func str(desc string) obj { return obj{"type": "string", "description": desc} }
func integer(desc string) obj {
	return obj{"type": "integer", "format": "int64", "description": desc}
}
func boolean(desc string) obj { return obj{"type": "boolean", "description": desc} }

func object(required []string, props obj) obj {
	o := obj{"type": "object", "properties": props}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

func jsonContent(schema obj) obj { return obj{"application/json": obj{"schema": schema}} }

func resp(desc string, schema obj) obj {
	r := obj{"description": desc}
	if schema != nil {
		r["content"] = jsonContent(schema)
	}
	return r
}

func errResp(desc string) obj { return resp(desc, ref("Error")) }

func body(schema obj) obj { return obj{"required": true, "content": jsonContent(schema)} }

// op builds an operation; responses maps status codes to responses.
func op(id, summary, desc string, tags []string, responses obj) obj {
	if _, ok := responses["401"]; !ok {
		responses["401"] = errResp("Missing or wrong X-API-Key")
	}
	return obj{"operationId": id, "summary": summary, "description": desc, "tags": tags, "responses": responses}
}

var (
	idParam = obj{"name": "id", "in": "path", "required": true, "schema": obj{"type": "string"},
		"description": "Instance id (8 hex characters), or ******** for the API key record"}
	tagInstances = []string{"instances"}
	tagMaster    = []string{"master"}
	tagExt       = []string{"burrow"}
)

// openAPIDocument returns the OpenAPI 3.1.1 description of the API served
// under root.
func openAPIDocument(root, version string) obj {
	return obj{
		"openapi": "3.1.1",
		"info": obj{
			"title":   "Burrow master API",
			"version": "v1",
			"description": "NodePass-compatible master API of Burrow " + version + ". Every protected " +
				"endpoint needs the X-API-Key header. Live state is pushed by GET /events (Server-Sent Events).",
		},
		"servers":    []obj{{"url": root}},
		"security":   []obj{{"ApiKeyAuth": []string{}}},
		"tags":       []obj{{"name": "instances"}, {"name": "master"}, {"name": "burrow", "description": "Burrow extensions"}},
		"paths":      merged(openAPIPaths(), requestPaths()),
		"components": obj{"securitySchemes": securitySchemes(), "schemas": merged(openAPISchemas(), requestSchemas())},
	}
}

func securitySchemes() obj {
	return obj{
		"ApiKeyAuth": obj{"type": "apiKey", "in": "header", "name": "X-API-Key"},
		"BearerAuth": obj{"type": "http", "scheme": "bearer", "description": "The API key as a bearer token (/metrics only)"},
	}
}

func openAPIPaths() obj {
	public := []obj{}
	return obj{
		"/instances": obj{
			"get": op("listInstances", "List instances", "Every instance, plus the API key record ********.", tagInstances,
				obj{"200": resp("The instances", obj{"type": "array", "items": ref("Instance")})}),
			"post": withBody(op("createInstance", "Create an instance",
				"The URL is normalised (query sorted, master log/tls added); the instance starts asynchronously.", tagInstances,
				obj{"201": resp("Created (status stopped; starting)", ref("Instance")),
					"400": errResp("Invalid request body, Invalid URL format, Invalid URL scheme")}), ref("CreateInstanceRequest")),
		},
		"/instances/{id}": obj{
			"parameters": []obj{idParam},
			"get": op("getInstance", "Get an instance", "", tagInstances,
				obj{"200": resp("The instance", ref("Instance")), "404": errResp("Instance not found")}),
			"patch": withBody(op("patchInstance", "Change an instance",
				"Applied in order alias, action, restart, meta; each step is announced by an update event. "+
					"start/stop/restart are asynchronous. On ******** the action restart regenerates the API key.", tagInstances,
				obj{"200": resp("The instance", ref("Instance")),
					"400": errResp("Invalid request body, Invalid action, over-long alias or meta"),
					"404": errResp("Instance not found")}), ref("UpdateInstanceRequest")),
			"put": withBody(op("putInstance", "Replace an instance's URL",
				"The instance is stopped, its URL replaced and started again.", tagInstances,
				obj{"200": resp("The instance (status stopped; restarting)", ref("Instance")),
					"400": errResp("Invalid request body or URL"), "403": errResp("Forbidden: API Key"),
					"404": errResp("Instance not found"), "409": errResp("Instance URL conflict (same normalised URL)")}),
				ref("PutInstanceRequest")),
			"delete": op("deleteInstance", "Delete an instance", "Stops it and removes it for good.", tagInstances,
				obj{"204": resp("Deleted", nil), "403": errResp("Forbidden: API Key"), "404": errResp("Instance not found")}),
		},
		"/events": obj{"get": op("events", "Instance events (SSE)",
			"text/event-stream: retry: 3000, then one initial event per instance (including ********), then "+
				"create/update/delete/log events, each as \"event: instance\" with one data line holding an Event. "+
				"A shutdown event ends the stream (master stopping or API key regenerated). Comment lines are heartbeats.",
			tagMaster, obj{"200": obj{"description": "The event stream",
				"content": obj{"text/event-stream": obj{"schema": ref("Event")}}}})},
		"/info": obj{
			"get": op("getInfo", "Master information", "", tagMaster, obj{"200": resp("Master information", ref("MasterInfo"))}),
			"post": withBody(op("setMasterAlias", "Set the master alias", "", tagMaster,
				obj{"200": resp("Master information", ref("MasterInfo")),
					"400": errResp("Invalid request body or alias too long")}), ref("UpdateMasterAliasRequest")),
		},
		"/tcping": obj{"get": withParams(op("tcping", "Probe a TCP address",
			"One TCP connect from the master (5 s timeout, 10 at a time).", tagMaster,
			obj{"200": resp("The probe result", ref("TCPingResult")), "400": errResp("Target address required")}),
			obj{"name": "target", "in": "query", "required": true, "schema": obj{"type": "string"}, "description": "host:port"})},
		"/agents": obj{"get": op("listAgents", "Connected agents", "Agent sessions connected to the bridge.", tagExt,
			obj{"200": resp("The agents", obj{"type": "array", "items": ref("AgentInfo")})})},
		"/instances/{id}/history": obj{
			"parameters": []obj{idParam},
			"get": withParams(op("instanceHistory", "Traffic history of an instance",
				"Bytes in (users to the service) and out per bucket, TCP and UDP together, and the connections open at "+
					"its last sample: 5-second buckets over the last hour or 1-minute buckets over the last 24 hours. "+
					"Kept in the master's memory only (720 and 1440 buckets per instance at most), sampled every report "+
					"interval while the instance runs; buckets without samples are left out.", tagExt,
				obj{"200": resp("The history", ref("History")), "400": errResp("Invalid range: want 1h or 24h"),
					"404": errResp("Instance not found")}),
				obj{"name": "range", "in": "query", "required": false,
					"schema": obj{"type": "string", "enum": []string{"1h", "24h"}, "default": "1h"}, "description": "Window"}),
		},
		"/pools": obj{"get": op("listPools", "Agent pools",
			"Every pool an instance names (agent=) or an agent is connected to: its instances and how many agents serve it.", tagExt,
			obj{"200": resp("The pools", obj{"type": "array", "items": ref("PoolInfo")})})},
		"/schemes": obj{"get": op("listSchemes", "Instance schemes",
			"server, client, then every handler scheme (tcp, udp, http and the plugins found) with its own parameters "+
				"from its descriptor. Plugins not running yet are launched to describe themselves.", tagExt,
			obj{"200": resp("The schemes", obj{"type": "array", "items": ref("SchemeInfo")})})},
		"/openapi.json": obj{"get": obj{"operationId": "openapi", "summary": "This document", "tags": tagExt,
			"security": public, "responses": obj{"200": resp("OpenAPI document", obj{"type": "object"})}}},
		"/docs": obj{"get": obj{"operationId": "docs", "summary": "Interactive documentation (works offline)", "tags": tagExt,
			"security": public, "responses": obj{"200": obj{"description": "HTML page",
				"content": obj{"text/html": obj{"schema": obj{"type": "string"}}}}}}},
		metricsPath: obj{
			"servers": []obj{{"url": "/", "description": "served outside the API root"}},
			"get": obj{"operationId": "metrics", "summary": "Prometheus metrics", "tags": tagExt,
				"description": "Instances by status, bytes per instance and direction, agents online, link errors by reason.",
				"security":    []obj{{"ApiKeyAuth": []string{}}, {"BearerAuth": []string{}}},
				"responses": obj{"200": obj{"description": "Prometheus text format",
					"content": obj{"text/plain": obj{"schema": obj{"type": "string"}}}},
					"401": errResp("Missing or wrong key")}},
		},
	}
}

// merged is a with b's entries added.
func merged(a, b obj) obj {
	maps.Copy(a, b)
	return a
}

func withBody(o, schema obj) obj { o["requestBody"] = body(schema); return o }

func withParams(o obj, params ...obj) obj { o["parameters"] = params; return o }

func openAPISchemas() obj {
	return obj{
		"Error": object([]string{"error"}, obj{"error": str("What went wrong")}),
		"Peer": object([]string{"sid", "type", "alias"}, obj{
			"sid": str("Peer service id"), "type": str("Peer type"), "alias": str("Peer alias")}),
		"Meta": object([]string{"peer", "tags"}, obj{
			"peer": ref("Peer"),
			"tags": obj{"type": "object", "additionalProperties": obj{"type": "string"}, "description": "Free-form tags"}}),
		"Instance": object([]string{"id", "alias", "type", "status", "url", "config", "restart", "meta", "mode", "ping",
			"pool", "tcps", "udps", "tcprx", "tcptx", "udprx", "udptx"}, obj{
			"id":      str("8 hex characters; ******** for the API key record"),
			"alias":   str("Display name"),
			"type":    str("URL scheme: server, client, tcp, udp, http or a plugin; \"\" for ********"),
			"status":  obj{"type": "string", "enum": []string{"running", "stopped", "error", ""}},
			"url":     str("Normalised instance URL; the API key for ********"),
			"config":  str("URL with every default parameter; the master id for ********"),
			"restart": boolean("Start with the master"),
			"meta":    ref("Meta"),
			"mode":    integer("Run mode the instance settled on (0 until known)"),
			"ping":    integer("Round trip in ms"),
			"pool":    integer("Pooled tunnel connections"),
			"tcps":    integer("Active TCP connections"),
			"udps":    integer("Active UDP sessions"),
			"tcprx":   integer("TCP bytes received since creation or reset"),
			"tcptx":   integer("TCP bytes sent"),
			"udprx":   integer("UDP bytes received"),
			"udptx":   integer("UDP bytes sent"),
			"reason":  str("Why the status is error (Burrow extension)"),
			"source": obj{"type": "string", "enum": []string{"api", "file", ""}, "description": "Who declares the instance: the API, or the " +
				"master's config file (its URL then shown with secrets as ****; PUT, DELETE and PATCH of alias, restart or meta answer 409). " +
				"\"\" for ********. Burrow extension"},
			"name": str("The instance's name in the config file (source file only). Burrow extension"),
		}),
		"CreateInstanceRequest": object([]string{"url"}, obj{"url": str("Instance URL"), "alias": str("Optional alias (≤ 256 bytes)")}),
		"PutInstanceRequest":    object([]string{"url"}, obj{"url": str("New instance URL")}),
		"UpdateInstanceRequest": object(nil, obj{
			"alias":   str("New alias (≤ 256 bytes)"),
			"action":  obj{"type": "string", "enum": []string{"start", "stop", "restart", "reset"}},
			"restart": boolean("Auto-start policy"),
			"meta": object(nil, obj{"peer": ref("Peer"),
				"tags": obj{"type": "object", "additionalProperties": obj{"type": "string"}}}),
		}),
		"MasterInfo": object([]string{"mid", "alias", "os", "arch", "ver", "name", "log", "tls", "crt", "key", "uptime",
			"cpu", "mem_total", "mem_used", "swap_total", "swap_used", "netrx", "nettx", "diskr", "diskw", "sysup"}, obj{
			"mid": str("Master id (16 hex)"), "alias": str("Master alias"), "os": str("GOOS"), "arch": str("GOARCH"),
			"ver": str("NodePass API version implemented"), "name": str("Master host"), "log": str("Master log level"),
			"tls": str("0, 1 or 2"), "crt": str("Certificate file (tls=2)"), "key": str("Key file (tls=2)"),
			"uptime": integer("Seconds since the master started"), "cpu": integer("Host CPU %, -1 when unknown"),
			"mem_total": integer("Bytes"), "mem_used": integer("Bytes"), "swap_total": integer("Bytes"),
			"swap_used": integer("Bytes"), "netrx": integer("Bytes since boot"), "nettx": integer("Bytes since boot"),
			"diskr": integer("Bytes since boot"), "diskw": integer("Bytes since boot"), "sysup": integer("Host uptime, s"),
			"burrow": str("Burrow version (extension)"),
			"bridge": ref("BridgeInfo"),
		}),
		"BridgeInfo": object([]string{"addr", "tls", "fp", "agent"}, obj{
			"addr":  str("host:port the shared bridge listens on"),
			"tls":   boolean("The bridge serves TLS (agents open TLS first)"),
			"fp":    str("SHA-256 fingerprint of the bridge certificate, lower-case hex"),
			"agent": str("Ready agent command line (fp= included when agents should pin the certificate)"),
		}),
		"UpdateMasterAliasRequest": object([]string{"alias"}, obj{"alias": str("Master alias (≤ 256 bytes, \"\" clears)")}),
		"TCPingResult": object([]string{"target", "connected", "latency", "error"}, obj{
			"target": str("host:port probed"), "connected": boolean("Connected"), "latency": integer("Connect time, ms"),
			"error": obj{"type": []string{"string", "null"}, "description": "Dial error, null on success"}}),
		"Event": object([]string{"type", "time", "instance", "logs"}, obj{
			"type":     obj{"type": "string", "enum": []string{"initial", "create", "update", "delete", "log", "shutdown"}},
			"time":     obj{"type": "string", "format": "date-time"},
			"instance": obj{"oneOf": []obj{ref("Instance"), {"type": "null"}}},
			"logs":     str("Log line (log events), else \"\""),
		}),
		"History": object([]string{"id", "range", "step", "points"}, obj{
			"id": str("Instance id"), "range": obj{"type": "string", "enum": []string{"1h", "24h"}},
			"step": integer("Bucket width, seconds (5 or 60)"),
			"points": obj{"type": "array", "items": object([]string{"t", "rx", "tx", "conns"}, obj{
				"t": integer("Bucket start, Unix seconds"), "rx": integer("Bytes users sent in the bucket"),
				"tx": integer("Bytes users received in the bucket"), "conns": integer("Open connections and UDP sessions at the bucket's last sample")})},
		}),
		"PoolInfo": object([]string{"pool", "agents", "instances"}, obj{
			"pool":      str("Pool: the same short hash of the agent key as AgentInfo.pool"),
			"agents":    integer("Agents connected to it"),
			"instances": obj{"type": "array", "items": obj{"type": "string"}, "description": "Ids of the instances linking through it"}}),
		"SchemeInfo": object([]string{"scheme", "kind", "plugin", "version", "params", "error"}, obj{
			"scheme": str("URL scheme"), "kind": obj{"type": "string", "enum": []string{"server", "client", "handler"}},
			"plugin": boolean("Served by a plugin process"), "version": str("Handler version"),
			"params": obj{"type": "array", "items": object([]string{"name", "type", "default", "help"}, obj{
				"name": str("Query parameter"), "type": obj{"type": "string", "enum": []string{"string", "int", "bool", "duration", "list"}},
				"default": str("Default value, \"\" when none"), "help": str("One line of help")}),
				"description": "The handler's own parameters (beyond the common ones)"},
			"error": str("Why the handler could not describe itself, else \"\""),
		}),
		"AgentInfo": object([]string{"id", "pool", "name", "addr", "version", "connected", "streams", "bytes_in", "bytes_out", "ping"}, obj{
			"id": str("Session id"), "pool": str("Agent pool: a short hash of its key, never the key"),
			"name": str("Agent name (its host name)"), "addr": str("Remote address"),
			"version": str("Agent version"), "connected": obj{"type": "string", "format": "date-time"},
			"streams":  integer("Open streams (links)"),
			"bytes_in": integer("Tunnel bytes received from the agent"), "bytes_out": integer("Tunnel bytes sent to the agent"),
			"ping": integer("The session's last heartbeat round trip in ms; 0 until the first is measured")}),
	}
}

// openAPI serves the document (public, any method).
func (s *server) openAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", s.openAPIJSON())
}

func (s *server) openAPIJSON() []byte {
	b, err := json.Marshal(openAPIDocument(s.root, s.opts.Version))
	if err != nil { // static data: cannot happen
		panic(err)
	}
	return b
}
