package web

import (
	"fmt"
	"maps"

	"github.com/burrowproject/burrow/server/inspect"
)

// The inspector's part of the OpenAPI document.

var ridParam = obj{"name": "rid", "in": "path", "required": true, "schema": obj{"type": "string"},
	"description": "Record id: the request id (16 hex characters) the entry gave the request"}

// inspectErrors are the answers every inspector endpoint may give.
func inspectErrors(extra obj) obj {
	out := obj{
		"400": errResp("Not an http instance (or a bad parameter)"),
		"404": errResp("Instance not found, or the record is no longer kept"),
		"409": errResp("The instance does not record requests (inspect= is off)"),
	}
	maps.Copy(out, extra)
	return out
}

func requestPaths() obj {
	ring := fmt.Sprintf("The master keeps the last %d records of each instance (at most %d MiB), in memory only, dropped with the instance.",
		inspect.DefaultPerInstance, inspect.DefaultPerInstanceBytes>>20)
	return obj{
		"/instances/{id}/requests": obj{
			"parameters": []obj{idParam},
			"get": withParams(op("listRequests", "Recorded requests of an http instance",
				"The requests an http instance with inspect=1 or inspect=body recorded, newest first, without headers "+
					"and bodies (GET .../requests/{rid} has them). "+ring, tagExt,
				inspectErrors(obj{"200": resp("The records", ref("Requests"))})),
				obj{"name": "limit", "in": "query", "required": false, "description": "Records at most",
					"schema": obj{"type": "integer", "minimum": 1, "maximum": inspect.DefaultPerInstance, "default": defaultRequestLimit}}),
		},
		"/instances/{id}/requests/stream": obj{
			"parameters": []obj{idParam},
			"get": op("streamRequests", "New requests of an http instance (SSE)",
				"text/event-stream: retry: 3000, then one \"event: request\" per new record with its RequestSummary as "+
					"the data line. Authenticated like /events (X-API-Key only); \"event: shutdown\" ends it when the "+
					"master stops or the key is regenerated; it also ends when the instance is deleted. Comment lines are heartbeats.",
				tagExt, inspectErrors(obj{"200": obj{"description": "The record stream",
					"content": obj{"text/event-stream": obj{"schema": ref("RequestSummary")}}}})),
		},
		"/instances/{id}/requests/{rid}": obj{
			"parameters": []obj{idParam, ridParam},
			"get": op("getRequest", "One recorded request in full",
				"Headers (Authorization, Proxy-Authorization, Cookie and Set-Cookie values redacted) and, with "+
					"inspect=body, the first 16 KiB of each body: text as text, anything else base64 with binary set.", tagExt,
				inspectErrors(obj{"200": resp("The record", ref("Request"))})),
		},
		"/instances/{id}/requests/{rid}/replay": obj{
			"parameters": []obj{idParam, ridParam},
			"post": op("replayRequest", "Replay a recorded request",
				"Sends the request again through the same instance (its entry, proxy and agent) to its backend, which "+
					"sees it a second time. Redacted headers are not sent (not_replayed names them); the instance's own "+
					"auth= is. The replay is recorded like any request, with replay_of set.", tagExt,
				inspectErrors(obj{"200": resp("The replay's outcome", ref("ReplayResult")),
					"409": errResp("inspect= is off, the instance is not running, or the record cannot be replayed " +
						"(an upgrade, or a body or headers not recorded whole)"),
					"502": errResp("The instance's entry could not be reached"),
					"503": errResp("Too many replays in progress")})),
		},
	}
}

func requestSchemas() obj {
	summary := obj{
		"id": str("Request id"), "instance": str("Instance id"), "time": obj{"type": "string", "format": "date-time"},
		"duration_ms": obj{"type": "number", "description": "Until the response was written, ms"},
		"method":      str("HTTP method"), "host": str("Host the request was routed by"), "path": str("Path and query as sent"),
		"status":    integer("Response status; 0 when an upgrade was handed to the host"),
		"req_bytes": integer("Request body bytes"), "resp_bytes": integer("Response body bytes"),
		"client": str("The user's address"), "upgrade": str("Protocol of an upgrade handed off"),
		"error": str("Class of failure when the proxy answered itself"), "replay_of": str("Id of the record this one replays"),
	}
	summaryReq := []string{"id", "instance", "time", "duration_ms", "method", "host", "path", "status", "req_bytes", "resp_bytes", "client"}
	full := maps.Clone(summary)
	header := object([]string{"name", "value"}, obj{"name": str("Header name"), "value": str("Value; [redacted] in place of secrets")})
	bodySchema := obj{"oneOf": []obj{object([]string{"size", "truncated", "binary"}, obj{
		"size": integer("Bytes recorded (at most 16384)"), "truncated": boolean("The body went on beyond them"),
		"binary": boolean("Not text: base64 holds the bytes"), "text": str("The bytes, when text"),
		"base64": str("The bytes, when binary")}), {"type": "null"}}}
	maps.Copy(full, obj{
		"proto": str("e.g. HTTP/1.1"), "headers_truncated": boolean("A header section exceeded 16 KiB"),
		"req_headers": obj{"type": "array", "items": header}, "resp_headers": obj{"type": "array", "items": header},
		"req_body": bodySchema, "resp_body": bodySchema,
	})
	return obj{
		"RequestSummary": object(summaryReq, summary),
		"Request":        object(append(summaryReq, "proto", "req_headers", "resp_headers", "headers_truncated", "req_body", "resp_body"), full),
		"Requests": object([]string{"id", "inspect", "records", "kept", "total", "dropped", "bytes"}, obj{
			"id": str("Instance id"), "inspect": obj{"type": "string", "enum": []string{"1", "body"}},
			"records": obj{"type": "array", "items": ref("RequestSummary")},
			"kept":    integer("Records in the ring"), "total": integer("Records ever added"),
			"dropped": integer("Records the handler dropped before they reached the master (its queue was full)"),
			"bytes":   integer("About the memory the ring takes"),
		}),
		"ReplayResult": object([]string{"replay_of", "status", "not_replayed", "record"}, obj{
			"replay_of": str("The record replayed"), "status": integer("Status the replay got"),
			"not_replayed": obj{"type": "array", "items": obj{"type": "string"}, "description": "Redacted headers not sent"},
			"record":       obj{"oneOf": []obj{ref("Request"), {"type": "null"}}, "description": "The replay's own record; null if it did not arrive within 5 s"},
		}),
	}
}
