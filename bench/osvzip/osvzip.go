// Package osvzip reads OSV bulk zips for the benchmark tools.
package osvzip

import (
	"archive/zip"
	"io"
	"sort"
	"strings"
)

// Each calls f with the name and contents of each record (*.json entry)
// of the zip at path, in name order, until f says to stop or fails.
func Each(path string, f func(name string, data []byte) (more bool, err error)) error {
	z, err := zip.OpenReader(path)
	if err != nil {
		return err
	}
	defer z.Close()
	files := append([]*zip.File{}, z.File...)
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	for _, file := range files {
		if !strings.HasSuffix(file.Name, ".json") {
			continue
		}
		rc, err := file.Open()
		if err != nil {
			return err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		more, err := f(file.Name, data)
		if err != nil || !more {
			return err
		}
	}
	return nil
}
