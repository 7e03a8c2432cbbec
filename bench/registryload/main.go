// Command registryload pushes and pulls through a registry and reports
// times: one large image (push, then pull with every layer read), then
// many small images pushed and their manifests pulled, several at once.
// Run against dossier serve and the distribution registry on the same
// machine, it gives the ratio of their costs.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func main() {
	registry := flag.String("registry", "", "host:port of the registry (plain HTTP)")
	token := flag.String("token", "", "password to send (dossier token), none when empty")
	bigMB := flag.Int64("big-mb", 100, "size of the large image's one layer, MB")
	small := flag.Int("manifests", 1000, "small images pushed and pulled")
	concurrency := flag.Int("concurrency", 8, "small pushes and pulls at once")
	flag.Parse()
	if err := run(*registry, *token, *bigMB, *small, *concurrency); err != nil {
		fmt.Fprintln(os.Stderr, "registryload:", err)
		os.Exit(1)
	}
}

func run(registry, token string, bigMB int64, small, concurrency int) error {
	opts := []remote.Option{}
	if token != "" {
		opts = append(opts, remote.WithAuth(&authn.Basic{Username: "bench", Password: token}))
	}
	ref := func(s string) name.Reference {
		r, err := name.ParseReference(registry+"/"+s, name.Insecure)
		if err != nil {
			panic(err) // the names below are valid
		}
		return r
	}
	big, err := random.Image(bigMB<<20, 1)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := remote.Write(ref("bench/big:v1"), big, opts...); err != nil {
		return fmt.Errorf("pushing the large image: %w", err)
	}
	push := time.Since(start)
	start = time.Now()
	pulled, err := remote.Image(ref("bench/big:v1"), opts...)
	if err != nil {
		return err
	}
	if err := readLayers(pulled); err != nil {
		return fmt.Errorf("pulling the large image: %w", err)
	}
	pull := time.Since(start)
	fmt.Printf("large image (%d MB): push %.3f s, pull %.3f s\n", bigMB, push.Seconds(), pull.Seconds())

	images := make([]v1.Image, small)
	for i := range images {
		if images[i], err = random.Image(256, 1); err != nil {
			return err
		}
	}
	pushes, elapsed, err := parallel(small, concurrency, func(i int) error {
		return remote.Write(ref(fmt.Sprintf("bench/small%d:v%d", i%50, i)), images[i], opts...)
	})
	if err != nil {
		return fmt.Errorf("pushing small images: %w", err)
	}
	report(fmt.Sprintf("%d small images pushed, %d at once", small, concurrency), pushes, elapsed)
	pulls, elapsed, err := parallel(small, concurrency, func(i int) error {
		d, err := images[i].Digest()
		if err != nil {
			return err
		}
		_, err = remote.Get(ref(fmt.Sprintf("bench/small%d@%s", i%50, d)), opts...)
		return err
	})
	if err != nil {
		return fmt.Errorf("pulling small manifests: %w", err)
	}
	report(fmt.Sprintf("%d manifests pulled, %d at once", small, concurrency), pulls, elapsed)
	return nil
}

func readLayers(img v1.Image) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// parallel runs f for 0..n-1, concurrency at a time, and returns each
// call's time and the whole time.
func parallel(n, concurrency int, f func(int) error) ([]time.Duration, time.Duration, error) {
	times := make([]time.Duration, n)
	errs := make(chan error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range concurrency {
		wg.Go(func() {
			for i := range next {
				t := time.Now()
				if err := f(i); err != nil {
					errs <- err
				}
				times[i] = time.Since(t)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	return times, elapsed, <-errs
}

func report(what string, times []time.Duration, elapsed time.Duration) {
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	at := func(q float64) time.Duration { return times[min(len(times)-1, int(q*float64(len(times))))] }
	fmt.Printf("%s: %.3f s, %.0f/s, p50 %s, p99 %s\n", what, elapsed.Seconds(), float64(len(times))/elapsed.Seconds(),
		at(0.5).Round(time.Microsecond), at(0.99).Round(time.Microsecond))
}
