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
	rate := flag.Int("rate", 0, "also send warm reviews at this many a second (open loop), timed from when each was due")
	duration := flag.Duration("duration", 10*time.Second, "how long each warm load runs")
	tokenFile := flag.String("token-file", "", "bearer token to present, as the API server does given one by its AdmissionConfiguration")
	http1 := flag.Bool("http1", false, "speak HTTP/1.1, a connection per request in flight (the API server calls webhooks over HTTP/2, client-go's transport default)")
	flag.Parse()
	token := ""
	if *tokenFile != "" {
		data, err := os.ReadFile(*tokenFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "webhookload:", err)
			os.Exit(1)
		}
		token = strings.TrimSpace(string(data))
	}
	if err := run(*url, *caFile, *coldFile, *warmFile, token, *concurrency, *rate, *duration, !*http1); err != nil {
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

func run(url, caFile, coldFile, warmFile, token string, concurrency, rate int, duration time.Duration, http2 bool) error {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return fmt.Errorf("%s: no certificate", caFile)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool},
		MaxIdleConnsPerHost: max(concurrency, 64), ForceAttemptHTTP2: http2}}
	cold, err := lines(coldFile)
	if err != nil {
		return err
	}
	warm, err := lines(warmFile)
	if err != nil {
		return err
	}
	var protocol string // what the webhook answered with
	send := func(uid int, images []string) (time.Duration, error) {
		start := time.Now()
		req, err := http.NewRequest(http.MethodPost, url+"/admission/validate", bytes.NewReader(review(uid, images)))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if uid == 0 { // the warm-up, before any other review
			protocol = resp.Proto
		}
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
	fmt.Println("protocol:", protocol)
	// half the never-judged digests in Pods of one container, half in
	// Pods of eight containers of that one image: the same cost when the
	// eight share one verification
	var cold1, cold8 []time.Duration
	for i, im := range cold {
		images, times := []string{im}, &cold1
		if i%2 == 1 {
			images, times = []string{im, im, im, im, im, im, im, im}, &cold8
		}
		d, err := send(1+i, images)
		if err != nil {
			return err
		}
		*times = append(*times, d)
	}
	report("cold (first judgement of a digest), 1 container", cold1, 0)
	report("cold (first judgement of a digest), 8 containers of that image", cold8, 0)

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
	if rate > 0 {
		return openLoop(send, warm, rate, duration)
	}
	return nil
}

// openLoop sends a review every 1/rate seconds whatever the answers'
// latency, and times each from when it was due, so that a stall shows in
// the latency of every review it delayed.
func openLoop(send func(int, []string) (time.Duration, error), warm []string, rate int, duration time.Duration) error {
	interval := time.Second / time.Duration(rate)
	rng := rand.New(rand.NewPCG(99, 7))
	var mu sync.Mutex
	var times []time.Duration
	var failures []error
	var wg sync.WaitGroup
	start := time.Now()
	for n := 0; ; n++ {
		due := start.Add(time.Duration(n) * interval)
		if due.Sub(start) >= duration {
			break
		}
		time.Sleep(time.Until(due))
		images := make([]string, 1+rng.IntN(8))
		for i := range images {
			images[i] = warm[rng.IntN(len(warm))]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := send(10_000_000+n, images)
			late := time.Since(due)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failures = append(failures, err)
			} else {
				times = append(times, late)
			}
		}()
	}
	wg.Wait()
	if len(failures) > 0 {
		return fmt.Errorf("%d open-loop reviews failed, the first: %v", len(failures), failures[0])
	}
	report(fmt.Sprintf("warm (1-8 containers, %d reviews/s offered)", rate), times, time.Since(start))
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
