"""Check the site that `nbdev-docs` built in `_docs/`, as a reader would meet it.

`python tools/check_docs.py --relink` first rewrites links to the deployed site (`[project.urls] Documentation`) into
relative ones, so the local build can be browsed and checked offline. Then it checks: a page for every notebook;
every image a page shows exists and is not empty; every notebook in the sidebar; every internal link and `#anchor` resolves inside the build; no
`NoneType` placeholders; and prints each page's number of outputs and figures. Exit status 1 on any problem."""
import re, sys, tomllib
from pathlib import Path
from urllib.parse import unquote, urlsplit
from bs4 import BeautifulSoup
from nbdev.config import nbpath2html

ROOT = Path(__file__).resolve().parents[1]

def doc_url()->str:
    cfg = tomllib.loads((ROOT/'pyproject.toml').read_text())
    return cfg['project']['urls']['Documentation'].rstrip('/') + '/'

def relink(docs:Path, base:str)->int:
    "Make links to `base` (the deployed site) relative; return how many were rewritten."
    n = 0
    for page in docs.rglob('*.html'):
        txt = page.read_text(encoding='utf-8')
        up = '../' * (len(page.relative_to(docs).parts) - 1)
        new, k = re.subn(rf'(href=["\']){re.escape(base)}', rf'\g<1>{up}', txt)
        if k: page.write_text(new, encoding='utf-8'); n += k
    return n

def ids(page:Path, cache={})->set:
    if page not in cache:
        soup = BeautifulSoup(page.read_text(encoding='utf-8'), 'html.parser')
        cache[page] = {t['id'] for t in soup.find_all(id=True)} | {t['name'] for t in soup.find_all('a', attrs={'name': True})}
    return cache[page]

def check(docs:Path, base:str)->list[str]:
    errs = []
    nbs = sorted((ROOT/'nbs').glob('*.ipynb'))
    for nb in nbs:
        page = docs/nbpath2html(Path(nb.name)).with_suffix('.html')
        if not page.exists(): errs.append(f'{nb.name}: no page {page.name}')
    listed = set(re.findall(r'[\w.-]+\.ipynb', (ROOT/'nbs'/'sidebar.yml').read_text()))
    errs += [f'{nb.name}: not in nbs/sidebar.yml' for nb in nbs if nb.name not in listed]
    print(f"{'page':<22} {'outputs':>7} {'figures':>7}")
    for page in sorted(docs.glob('*.html')):
        if page.name in ('404.html',): continue
        soup = BeautifulSoup(page.read_text(encoding='utf-8'), 'html.parser')
        main = soup.find('main') or soup
        outs = main.select('div.cell-output, div.cell-output-stdout, div.cell-output-display')
        figs = [i for o in outs for i in o.find_all('img')]
        print(f"{page.name:<22} {len(outs):>7} {len(figs):>7}")
        text = main.get_text()
        if 'NoneType' in text:
            where = sorted({l.strip()[:90] for l in text.splitlines() if 'NoneType' in l})
            errs.append(f'{page.name}: NoneType placeholder in {where}')
        for img in main.find_all('img'):
            src = img.get('src', '')
            if src.startswith('data:'):
                if len(src.split(',', 1)[-1]) < 100: errs.append(f'{page.name}: empty inline image')
                continue
            if urlsplit(src).scheme: errs.append(f'{page.name}: image from the network {src}'); continue
            f = (page.parent/unquote(urlsplit(src).path)).resolve()
            if not f.is_file() or f.stat().st_size == 0: errs.append(f'{page.name}: missing or empty image {src}')
        for a in soup.find_all('a', href=True):
            href = a['href']
            if href.startswith(base): errs.append(f'{page.name}: link to the deployed site {href}'); continue
            u = urlsplit(href)
            if u.scheme or href.startswith(('//', 'mailto:', 'javascript:')): continue
            target = page if not u.path else (page.parent/unquote(u.path)).resolve()
            if target.is_dir(): target = target/'index.html'
            if not target.exists(): errs.append(f'{page.name}: broken link {href}'); continue
            if u.fragment and target.suffix == '.html' and unquote(u.fragment) not in ids(target):
                errs.append(f'{page.name}: no anchor #{u.fragment} in {target.name} ({href})')
    return errs

if __name__ == '__main__':
    docs, base = ROOT/'_docs', doc_url()
    if '--relink' in sys.argv: print(f'relinked {relink(docs, base)} links to {base}')
    errs = check(docs, base)
    for e in errs: print('ERROR', e)
    print(f'{len(errs)} problems')
    sys.exit(1 if errs else 0)
