package harness

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// scraper reads /metrics of every address every interval, as Prometheus
// would, until stopped. A failed scrape is logged (the first of each
// address), never ignored: a benchmark "with metrics" whose scrapes fail
// measures nothing.
type scraper struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu sync.Mutex
	scrapeTotals
}

// scrapeTotals counts scrapes.
type scrapeTotals struct {
	scrapes, failures, bytes int64
}

func (t *scrapeTotals) add(o scrapeTotals) {
	t.scrapes += o.scrapes
	t.failures += o.failures
	t.bytes += o.bytes
}

func startScraper(addrs []string, every time.Duration, logf func(string, ...any)) *scraper {
	ctx, cancel := context.WithCancel(context.Background())
	s := &scraper{cancel: cancel}
	client := &http.Client{Timeout: 10 * time.Second}
	for _, a := range addrs {
		s.wg.Go(func() {
			t := time.NewTicker(every)
			defer t.Stop()
			logged := false
			for {
				n, err := scrapeOnce(ctx, client, "http://"+a+"/metrics")
				if ctx.Err() != nil {
					return
				}
				s.mu.Lock()
				s.scrapes++
				s.bytes += n
				if err != nil {
					s.failures++
				}
				s.mu.Unlock()
				if err != nil && !logged {
					logf("  scrape %s: %v", a, err)
					logged = true
				}
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		})
	}
	return s
}

func scrapeOnce(ctx context.Context, client *http.Client, url string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %s", resp.Status)
	}
	return n, err
}

// stop ends the scrapes, waits for them and returns their totals.
func (s *scraper) stop() scrapeTotals {
	s.cancel()
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scrapeTotals
}
