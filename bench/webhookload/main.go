// Command webhookload sends AdmissionReviews to dossier's webhook over
// HTTPS and reports latency and throughput. Cold: one Pod per image never
// judged before, one at a time (resolution, signature verification,
// decision). Warm: Pods of 1–8 containers drawn from images already
// judged, from many connections at once, for a while.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

func main() {
	url := flag.String("url", "", "webhook base URL, https://127.0.0.1:PORT")
	caFile := flag.String("ca", "", "CA bundle of the serving certificate")
	coldFile := flag.String("cold", "", "file of image references never judged, one per line")
	warmFile := flag.String("warm", "", "file of image references to judge first and then load with")
	concurrency := flag.Int("concurrency", 16, "warm requests in flight")
	duration := flag.Duration("duration", 10*time.Second, "how long the warm load runs")
	flag.Parse()
	if err := run(*url, *caFile, *coldFile, *warmFile, *concurrency, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "webhookload:", err)
		os.Exit(1)
	}
}

func lines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if l := strings.TrimSpace(s.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out, s.Err()
}

// review is a Pod creation with the images as its containers.
func review(uid int, images []string) []byte {
	var containers []map[string]string
	for i, im := range images {
		containers = append(containers, map[string]string{"name": fmt.Sprintf("c%d", i), "image": im})
	}
	body, _ := json.Marshal(map[string]any{ // maps of strings always marshal
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{
			"uid": fmt.Sprintf("load-%d", uid), "operation": "CREATE", "namespace": "prod", "name": fmt.Sprintf("web-%d", uid),
			"kind": map[string]string{"version": "v1", "kind": "Pod"}, "userInfo": map[string]string{"username": "load"},
			"object": map[string]any{"metadata": map[string]string{"name": fmt.Sprintf("web-%d", uid)}, "spec": map[string]any{"containers": containers}},
		},
	})
	return body
}

func run(url, caFile, coldFile, warmFile string, concurrency int, duration time.Duration) error {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return fmt.Errorf("%s: no certificate", caFile)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool},
		MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency}}
	cold, err := lines(coldFile)
	if err != nil {
		return err
	}
	warm, err := lines(warmFile)
	if err != nil {
		return err
	}
	send := func(uid int, images []string) (time.Duration, error) {
		start := time.Now()
		resp, err := client.Post(url+"/admission/validate", "application/json", bytes.NewReader(review(uid, images)))
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		var out struct {
			Response struct {
				Allowed bool `json:"allowed"`
				Status  struct {
					Message string `json:"message"`
				} `json:"status"`
			} `json:"response"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		if !out.Response.Allowed {
			return 0, fmt.Errorf("denied: %s", out.Response.Status.Message)
		}
		return time.Since(start), nil
	}
	// warm-up: one connection's TLS handshake and the warm images judged
	if _, err := send(0, warm); err != nil {
		return err
	}
	var coldTimes []time.Duration
	for i, im := range cold {
		d, err := send(1+i, []string{im})
		if err != nil {
			return err
		}
		coldTimes = append(coldTimes, d)
	}
	report("cold (first judgement of a digest, 1 container)", coldTimes, 0)

	var mu sync.Mutex
	var warmTimes []time.Duration
	var failures []error
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for n := 0; time.Now().Before(deadline); n++ {
				images := make([]string, 1+rng.IntN(8))
				for i := range images {
					images[i] = warm[rng.IntN(len(warm))]
				}
				d, err := send(1_000_000*(w+1)+n, images)
				mu.Lock()
				if err != nil {
					failures = append(failures, err)
				} else {
					warmTimes = append(warmTimes, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if len(failures) > 0 {
		return fmt.Errorf("%d warm reviews failed, the first: %v", len(failures), failures[0])
	}
	report(fmt.Sprintf("warm (1-8 containers, %d in flight)", concurrency), warmTimes, elapsed)
	return nil
}

func report(what string, times []time.Duration, elapsed time.Duration) {
	if len(times) == 0 {
		fmt.Printf("%s: no reviews\n", what)
		return
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	at := func(q float64) time.Duration { return times[min(len(times)-1, int(q*float64(len(times))))] }
	line := fmt.Sprintf("%s: %d reviews, p50 %s, p99 %s, max %s", what, len(times),
		at(0.50).Round(time.Microsecond), at(0.99).Round(time.Microsecond), times[len(times)-1].Round(time.Microsecond))
	if elapsed > 0 {
		line += fmt.Sprintf(", %.0f reviews/s", float64(len(times))/elapsed.Seconds())
	}
	fmt.Println(line)
}
