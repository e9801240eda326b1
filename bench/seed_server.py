#-*- coding:utf-8 -*-
# The seed's stage-3 server (select on two listeners), copied for the
# benchmark with three changes, each marked "bench:":
#   - the ports come from argv: python3 bench/seed_server.py PORT1 PORT2
#   - IP is 127.0.0.1 instead of '' (only loopback, as pyselect-server's default)
#   - the elif typo is fixed (`server_socket2 == server_socket2` was always true)
# Run it with stdout sent to /dev/null for benchmarks; it runs until killed.

import socket
import select
import sys

# 접속 정보 설정
IP = '127.0.0.1'  # bench: was ''
PORT1 = int(sys.argv[1])  # bench: was 5050
PORT2 = int(sys.argv[2])  # bench: was 5060
SIZE = 1024
ADDR1 = (IP, PORT1)
ADDR2 = (IP, PORT2)

# 서버 소켓1 설정
server_socket1 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server_socket1.bind(ADDR1)  # 주소 바인딩
server_socket1.listen()  # 클라이언트의 요청을 받을 준비

# 서버 소켓2 설정
server_socket2 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server_socket2.bind(ADDR2)  # 주소 바인딩
server_socket2.listen()  # 클라이언트의 요청을 받을 준비

# read 소켓 리스트
read_socket_list = [server_socket1, server_socket2]

# 무한루프 진입
while True:
    # select 선언
    conn_read_socket_list, conn_write_socket_list, conn_except_socket_list = select.select(read_socket_list, [], [])
    for conn_read_socket in conn_read_socket_list:
        if conn_read_socket == server_socket1:
            print('hello socket1')
            client_socket, client_addr = server_socket1.accept()  # 수신대기, 접속한 클라이언트 정보 (소켓, 주소) 반환
            msg = client_socket.recv(SIZE)  # 클라이언트가 보낸 메시지 반환
            print("[{}] message : {}".format(client_addr,msg))  # 클라이언트가 보낸 메시지 출력

            client_socket.sendall("welcome {}!".format(PORT1).encode())  # 클라이언트에게 응답  # bench: port from argv

            client_socket.close()  # 클라이언트 소켓 종료
        elif conn_read_socket == server_socket2:  # bench: was `server_socket2 == server_socket2`
            print('hello socket2')
            client_socket, client_addr = server_socket2.accept()  # 수신대기, 접속한 클라이언트 정보 (소켓, 주소) 반환
            msg = client_socket.recv(SIZE)  # 클라이언트가 보낸 메시지 반환
            print("[{}] message : {}".format(client_addr,msg))  # 클라이언트가 보낸 메시지 출력

            client_socket.sendall("welcome {}!".format(PORT2).encode())  # 클라이언트에게 응답  # bench: port from argv

            client_socket.close()  # 클라이언트 소켓 종료
