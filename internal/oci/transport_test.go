package oci

import (
	"errors"
	"net/http"
)

var errDialed = errors.New("dialed")

// failingTransport stands for the network: reaching it means the request
// was allowed through.
type failingTransport struct{}

func (failingTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, errDialed }

func httpNewRequest(url string) (*http.Request, error) {
	return http.NewRequest(http.MethodGet, url, nil)
}
