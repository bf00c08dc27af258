#!/usr/bin/env bash
# Makes the image and PDF files in tests/fixtures with real encoders. Run by
# hand (the files are committed, so tests need none of these tools):
#   apt-get install imagemagick webp qpdf exiftool ghostscript && bash scripts/make-fixtures.sh
# Plain colours keep the files small; only their headers matter to the
# estimate, and the tests compare it with each provider's rule for the size.
set -euo pipefail
cd "$(dirname "$0")/../tests/fixtures"
im=/usr/bin/convert   # ImageMagick itself, whatever else is first on PATH

$im -size 200x200 xc:'#3366cc' png-200x200.png
$im -size 1000x1000 gradient:white-navy png-1000x1000.png
$im -size 3000x2000 xc:'#cc6633' png-3000x2000.png
$im -size 1092x1092 xc:'#88aa22' -quality 85 jpeg-1092x1092.jpg
# A phone-sized photo with EXIF and an ICC profile before its frame header,
# so the reader must skip segments to find the size.
$im -size 4032x3024 gradient:orange-teal -quality 80 jpeg-4032x3024.jpg
exiftool -q -overwrite_original -Make=Headroom -Model=Fixture -ImageDescription="$(printf 'x%.0s' $(seq 1 4000))" jpeg-4032x3024.jpg
$im jpeg-4032x3024.jpg -profile "$(ls /usr/share/color/icc/*/*.icc 2>/dev/null | head -1 || echo /dev/null)" jpeg-4032x3024.jpg 2>/dev/null || true
$im -size 640x480 xc:'#aa3344' gif-640x480.gif
$im -size 1920x1080 xc:'#446688' ppm:- | cwebp -quiet -q 80 -o webp-lossy-1920x1080.webp -- -
$im -size 512x512 xc:'#22aa88' png:- | cwebp -quiet -lossless -o webp-lossless-512x512.webp -- -
$im -size 2000x3000 xc:'#ff000080' png:- | cwebp -quiet -q 80 -alpha_q 50 -metadata all -o webp-extended-2000x3000.webp -- - 
# A three-page PDF of text, written by Ghostscript with its page tree in
# plain objects, and the same with its objects compressed into object
# streams (PDF 1.5), where the page count cannot be read without inflating.
printf '%%!PS\n/Helvetica findfont 14 scalefont setfont\n' > pages.ps
for page in 1 2 3; do
  printf '72 700 moveto (Page %s of a fixture for the estimate.) show showpage\n' "$page" >> pages.ps
done
ps2pdf pages.ps pdf-3-pages.pdf && rm pages.ps
qpdf --object-streams=generate pdf-3-pages.pdf pdf-3-pages-object-streams.pdf
ls -l
