// Package testutil holds small helpers shared by Burrow's unit tests: free
// loopback ports, the goleak wrapper every package's TestMain uses, and
// bounded polling.
//
// It is test support only: nothing outside _test.go files and test/ may
// import it.
package testutil
