package objects

// SetListPageSizeForTest makes list requests return n names at most, so tests
// cross page boundaries with few objects.
func (s *S3) SetListPageSizeForTest(n int32) { s.pageSize = n }

// SetSpoolMemoryForTest sets how much of a non-seekable Put body stays in
// memory before spilling to a temporary file.
func (s *S3) SetSpoolMemoryForTest(n int64) { s.spoolMem = n }
