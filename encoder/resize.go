package encoder

import (
	"image"
	"image/draw"

	xdraw "golang.org/x/image/draw"
)

// Resize scales img to w x h with the named method: "nearest" (PIL's
// NEAREST, as the notebook) or "catmullrom" (a cubic filter that averages
// over the source when shrinking, so a large face crop does not alias).
func Resize(img image.Image, w, h int, method string) *image.RGBA {
	if method != "catmullrom" {
		return ResizeNearest(img, w, h)
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	xdraw.CatmullRom.Scale(dst, dst.Bounds(), img, img.Bounds(), xdraw.Src, nil)
	return dst
}

// ResizeNearest scales img to w x h the way PIL's Image.resize(NEAREST) does
// (and so Keras' load_img(target_size=...)): destination pixel x samples
// source pixel floor((x+0.5) * srcW/w), computed in float64 like PIL.
func ResizeNearest(img image.Image, w, h int) *image.RGBA {
	src, ok := img.(*image.RGBA)
	if !ok {
		src = image.NewRGBA(img.Bounds())
		draw.Draw(src, src.Bounds(), img, img.Bounds().Min, draw.Src)
	}
	b := src.Bounds()
	sw, sh := b.Dx(), b.Dy()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	xs := make([]int, w)
	for x := range xs {
		xs[x] = nearest(x, sw, w)
	}
	for y := 0; y < h; y++ {
		sy := nearest(y, sh, h)
		srow := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+sy):]
		drow := dst.Pix[dst.PixOffset(0, y):]
		for x, sx := range xs {
			copy(drow[4*x:4*x+4], srow[4*sx:4*sx+4])
		}
	}
	return dst
}

func nearest(d, srcSize, dstSize int) int {
	s := int((float64(d) + 0.5) * float64(srcSize) / float64(dstSize))
	if s >= srcSize {
		s = srcSize - 1
	}
	return s
}
