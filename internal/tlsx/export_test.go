package tlsx

// Looks is how many times rc read its socket without waiting.
func Looks(rc *RecordConn) int { return rc.looks }
