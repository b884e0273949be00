package main

import (
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// wrkLoad runs wrk against t and parses its summary.
func wrkLoad(t *target, cfg config) (result, error) {
	args := []string{"-t2", fmt.Sprintf("-c%d", cfg.conns), fmt.Sprintf("-d%ds", int(cfg.duration.Seconds())), "--latency"}
	if t.token != "" {
		args = append(args, "-H", "Authorization: Bearer "+t.token)
	}
	out, err := exec.Command("wrk", append(args, t.url)...).CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk: %w: %s", err, out)
	}
	text := string(out)
	var res result
	if m := regexp.MustCompile(`Requests/sec:\s+([\d.]+)`).FindStringSubmatch(text); m != nil {
		res.rps, _ = strconv.ParseFloat(m[1], 64)
	}
	res.p50 = wrkPercentile(text, "50%")
	res.p99 = wrkPercentile(text, "99%")
	if m := regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`).FindStringSubmatch(text); m != nil {
		res.non2xx, _ = strconv.Atoi(m[1])
	}
	if res.rps == 0 {
		return res, fmt.Errorf("could not read wrk output: %s", text)
	}
	return res, nil
}

func wrkPercentile(text, pct string) time.Duration {
	m := regexp.MustCompile(`\s` + regexp.QuoteMeta(pct) + `\s+([\d.]+)(us|ms|s)`).FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[2]]
	return time.Duration(v * float64(unit))
}

// goLoad is the fallback load generator: cfg.conns workers on keep-alive
// connections, every latency recorded.
func goLoad(t *target, cfg config) (result, error) {
	client := &fasthttp.Client{MaxConnsPerHost: cfg.conns}
	var (
		mu    sync.Mutex
		lats  []time.Duration
		bad   atomic.Int64
		count atomic.Int64
		wg    sync.WaitGroup
	)
	deadline := time.Now().Add(cfg.duration)
	for w := 0; w < cfg.conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, res := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(res)
			req.SetRequestURI(t.url)
			if t.token != "" {
				req.Header.Set("Authorization", "Bearer "+t.token)
			}
			local := make([]time.Duration, 0, 4096)
			for time.Now().Before(deadline) {
				began := time.Now()
				err := client.Do(req, res)
				local = append(local, time.Since(began))
				count.Add(1)
				if err != nil || res.StatusCode() >= 300 {
					bad.Add(1)
				}
			}
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(lats) == 0 {
		return result{}, fmt.Errorf("no requests completed")
	}
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	return result{
		rps:    float64(count.Load()) / cfg.duration.Seconds(),
		p50:    lats[len(lats)/2],
		p99:    lats[len(lats)*99/100],
		non2xx: int(bad.Load()),
	}, nil
}
