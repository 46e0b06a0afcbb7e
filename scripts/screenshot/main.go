// Command screenshot renders an HTML report in headless Chromium and writes a
// PNG of the whole page (docs/report.png comes from it); it also says how
// many of the page's images loaded, and exits 1 if any did not.
//
//	go run ./scripts/screenshot [-width 1200] report.html out.png
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/facebatch/facebatch/internal/browser"
)

func main() {
	width := flag.Int("width", 1200, "viewport width in CSS pixels")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: screenshot [-width N] page.html out.png")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), flag.Arg(1), *width); err != nil {
		fmt.Fprintln(os.Stderr, "screenshot:", err)
		os.Exit(1)
	}
}

func run(page, out string, width int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := browser.Start(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	url, err := browser.FileURL(page)
	if err != nil {
		return err
	}
	p, err := b.Open(ctx, url, width, 800)
	if err != nil {
		return err
	}
	imgs, err := p.Images(ctx)
	if err != nil {
		return err
	}
	png, err := p.Screenshot(ctx)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		return err
	}
	fmt.Printf("%s: %d of %d images loaded; screenshot %s\n", page, imgs.Loaded, imgs.Total, out)
	if len(imgs.Broken) > 0 {
		return fmt.Errorf("broken images: %s", strings.Join(imgs.Broken, ", "))
	}
	return nil
}
